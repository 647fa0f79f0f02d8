//! The Volunteers area of the PostgreSQL backend.

use super::*;

#[async_trait]
impl Volunteers for PgStore {
    async fn create_volunteer(&self, v: &Volunteer) -> Result<()> {
        let p = VolunteerParams::new(v);
        self.exec_announced(
            &format!(
                "INSERT INTO volunteers ({VOLUNTEER_COLS})
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)"
            ),
            &p.params(v),
            &[Change::Volunteer(v.id)],
        )
        .await?;
        Ok(())
    }

    async fn update_volunteer(&self, v: &Volunteer) -> Result<()> {
        let p = VolunteerParams::new(v);
        found(
            self.exec_announced(
                "UPDATE volunteers SET region_id=$2, name=$3, phone=$4, email=$5, password_hash=$6, language=$7, languages=$8,
                 birth_date=$9, tier=$10, training_kind=$11, training_date=$12, consent_at=$13, verified_at=$14,
                 suspended_at=$15, available=$16, quiet_start=$17, quiet_end=$18, created_at=$19 WHERE id=$1",
                &p.params(v),
                &[Change::Volunteer(v.id)],
            )
            .await?,
        )
    }

    async fn volunteer(&self, id: VolunteerId) -> Result<Option<Volunteer>> {
        self.opt(
            &format!("SELECT {VOLUNTEER_COLS} FROM volunteers WHERE id = $1"),
            &[&id.0],
        )
        .await?
        .as_ref()
        .map(volunteer_row)
        .transpose()
    }

    async fn volunteer_by_contact(
        &self,
        region: RegionId,
        phone: Option<&str>,
        email: Option<&str>,
    ) -> Result<Option<Volunteer>> {
        self.opt(
            &format!(
                "SELECT {VOLUNTEER_COLS} FROM volunteers WHERE region_id = $1
                 AND (($2::text IS NOT NULL AND phone = $2) OR ($3::text IS NOT NULL AND email = $3)) LIMIT 1"
            ),
            &[&region.0, &phone, &email],
        )
        .await?
        .as_ref()
        .map(volunteer_row)
        .transpose()
    }

    async fn volunteers(
        &self,
        region: Option<RegionId>,
        query: Option<&str>,
        limit_n: u32,
    ) -> Result<Vec<Volunteer>> {
        // Like SQLite: `%` and `_` in the query are dropped, the match ignores case.
        let q = query.map(|q| format!("%{}%", q.replace(['%', '_'], "").replace('\\', "\\\\")));
        let rows = self
            .rows(
                &format!(
                    "SELECT {VOLUNTEER_COLS} FROM volunteers WHERE ($1::uuid IS NULL OR region_id = $1)
                     AND ($2::text IS NULL OR name ILIKE $2 OR phone ILIKE $2 OR email ILIKE $2)
                     ORDER BY name COLLATE \"C\", id LIMIT $3"
                ),
                &[&region.map(|r| r.0), &q, &limit(limit_n)],
            )
            .await?;
        collect(rows, volunteer_row)
    }

    async fn delete_volunteer(&self, id: VolunteerId) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        tx.execute("DELETE FROM sessions WHERE subject = $1", &[&id.0])
            .await
            .map_err(backend)?;
        tx.execute("DELETE FROM volunteers WHERE id = $1", &[&id.0])
            .await
            .map_err(backend)?;
        changes::announce(&tx, &self.origin, &[Change::Volunteer(id)]).await?;
        tx.commit().await.map_err(backend)
    }

    async fn set_verification(
        &self,
        id: VolunteerId,
        code_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO verification_codes (volunteer_id, code_hash, expires_at, attempts) VALUES ($1, $2, $3, 0)
             ON CONFLICT (volunteer_id) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0",
            &[&id.0, &code_hash, &expires_at],
        )
        .await?;
        Ok(())
    }

    async fn verification_attempt(
        &self,
        id: VolunteerId,
    ) -> Result<Option<(String, DateTime<Utc>, u32)>> {
        let row = self
            .opt(
                "UPDATE verification_codes SET attempts = attempts + 1 WHERE volunteer_id = $1
                 RETURNING code_hash, expires_at, attempts",
                &[&id.0],
            )
            .await?;
        row.map(|r| Ok((get(&r, 0)?, get(&r, 1)?, u32_col(&r, 2)?)))
            .transpose()
    }

    async fn clear_verification(&self, id: VolunteerId) -> Result<()> {
        self.exec(
            "DELETE FROM verification_codes WHERE volunteer_id = $1",
            &[&id.0],
        )
        .await?;
        Ok(())
    }

    async fn save_positions(&self, fixes: &[PositionFix]) -> Result<()> {
        if fixes.is_empty() {
            return Ok(());
        }
        // Group commit with other callers; answered after the commit.
        self.ensure_ready().await?;
        let (done, rx) = tokio::sync::oneshot::channel();
        let writer = self.positions_in.get_or_init(|| {
            positions::writer(
                self.pool.config().clone(),
                self.position_announcer().clone(),
            )
        });
        writer
            .send(positions::Request {
                fixes: fixes.to_vec(),
                done,
            })
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn delete_position(&self, id: VolunteerId) -> Result<()> {
        self.exec("DELETE FROM positions WHERE volunteer_id = $1", &[&id.0])
            .await?;
        // After the volunteer's earlier positions (see `changes`).
        self.announce_position(Change::PositionDeleted(id));
        Ok(())
    }

    async fn positions(&self) -> Result<Vec<PositionFix>> {
        let rows = self
            .rows("SELECT volunteer_id, lat, lon, at_unix FROM positions", &[])
            .await?;
        collect(rows, |r| {
            Ok(PositionFix {
                volunteer: VolunteerId(get(r, 0)?),
                position: LatLon {
                    lat: get(r, 1)?,
                    lon: get(r, 2)?,
                },
                at_unix: u32_col(r, 3)?,
            })
        })
    }

    async fn purge_positions(&self, before_unix: u32) -> Result<Vec<VolunteerId>> {
        let rows = self
            .rows(
                "DELETE FROM positions WHERE at_unix < $1 RETURNING volunteer_id",
                &[&i64::from(before_unix)],
            )
            .await?;
        collect(rows, |r| Ok(VolunteerId(get(r, 0)?)))
    }

    async fn add_device(&self, d: &Device) -> Result<()> {
        let rec = to_json(&d.recipient)?;
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        // The same endpoint registered again replaces the old registration.
        tx.execute(
            "DELETE FROM devices WHERE volunteer_id = $1 AND recipient = $2",
            &[&d.volunteer.0, &rec],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO devices (id, volunteer_id, recipient, created_at) VALUES ($1, $2, $3, $4)",
            &[&d.id, &d.volunteer.0, &rec, &d.created_at],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn devices(&self, volunteer: VolunteerId) -> Result<Vec<Device>> {
        let rows = self
            .rows(
                "SELECT id, volunteer_id, recipient, created_at FROM devices WHERE volunteer_id = $1 ORDER BY created_at, id",
                &[&volunteer.0],
            )
            .await?;
        collect(rows, |r| {
            Ok(Device {
                id: get(r, 0)?,
                volunteer: VolunteerId(get(r, 1)?),
                recipient: json_col(r, 2)?,
                created_at: get(r, 3)?,
            })
        })
    }

    async fn delete_device(&self, volunteer: VolunteerId, id: Uuid) -> Result<bool> {
        Ok(self
            .exec(
                "DELETE FROM devices WHERE id = $1 AND volunteer_id = $2",
                &[&id, &volunteer.0],
            )
            .await?
            > 0)
    }
}
