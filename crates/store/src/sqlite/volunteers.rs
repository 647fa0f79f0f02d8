//! The Volunteers area of the SqliteStore backend.

use super::*;

#[async_trait]
impl Volunteers for SqliteStore {
    async fn create_volunteer(&self, v: &Volunteer) -> Result<()> {
        let p = volunteer_params(v);
        self.write(move |c| {
            let sql = format!("INSERT INTO volunteers ({VOLUNTEER_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)");
            c.execute(&sql, rusqlite::params_from_iter(p.iter().map(|b| b.as_ref() as &dyn rusqlite::ToSql)))
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn update_volunteer(&self, v: &Volunteer) -> Result<()> {
        let p = volunteer_params(v);
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE volunteers SET region_id=?2, name=?3, phone=?4, email=?5, password_hash=?6, language=?7, languages=?8,
                     birth_date=?9, tier=?10, training_kind=?11, training_date=?12, consent_at=?13, verified_at=?14,
                     suspended_at=?15, available=?16, quiet_start=?17, quiet_end=?18, created_at=?19 WHERE id=?1",
                    rusqlite::params_from_iter(p.iter().map(|b| b.as_ref() as &dyn rusqlite::ToSql)),
                )
                .map_err(backend)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn volunteer(&self, id: VolunteerId) -> Result<Option<Volunteer>> {
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {VOLUNTEER_COLS} FROM volunteers WHERE id = ?1"),
                [id.to_string()],
                volunteer_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn volunteer_by_contact(
        &self,
        region: RegionId,
        phone: Option<&str>,
        email: Option<&str>,
    ) -> Result<Option<Volunteer>> {
        let (p, e) = (phone.map(str::to_string), email.map(str::to_string));
        self.read(move |c| {
            c.query_row(
                &format!(
                    "SELECT {VOLUNTEER_COLS} FROM volunteers WHERE region_id = ?1 AND ((?2 IS NOT NULL AND phone = ?2) OR (?3 IS NOT NULL AND email = ?3)) LIMIT 1"
                ),
                params![region.to_string(), p, e],
                volunteer_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn volunteers(
        &self,
        region: Option<RegionId>,
        query: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Volunteer>> {
        let q = query.map(|q| format!("%{}%", q.replace(['%', '_'], "")));
        self.read(move |c| {
            let mut s = c
                .prepare(&format!(
                    "SELECT {VOLUNTEER_COLS} FROM volunteers WHERE (?1 IS NULL OR region_id = ?1)
                     AND (?2 IS NULL OR name LIKE ?2 OR phone LIKE ?2 OR email LIKE ?2) ORDER BY name LIMIT ?3"
                ))
                .map_err(backend)?;
            let rows = s.query_map(params![region.map(|r| r.to_string()), q, limit], volunteer_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn delete_volunteer(&self, id: VolunteerId) -> Result<()> {
        self.write(move |c| {
            c.execute("DELETE FROM sessions WHERE subject = ?1", [id.to_string()])
                .map_err(backend)?;
            c.execute("DELETE FROM volunteers WHERE id = ?1", [id.to_string()])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn set_verification(
        &self,
        id: VolunteerId,
        code_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let h = code_hash.to_string();
        self.write(move |c| {
            c.execute(
                "INSERT INTO verification_codes (volunteer_id, code_hash, expires_at, attempts) VALUES (?1, ?2, ?3, 0)
                 ON CONFLICT (volunteer_id) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0",
                params![id.to_string(), h, ts(expires_at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn verification_attempt(
        &self,
        id: VolunteerId,
    ) -> Result<Option<(String, DateTime<Utc>, u32)>> {
        self.write(move |c| {
            c.execute("UPDATE verification_codes SET attempts = attempts + 1 WHERE volunteer_id = ?1", [id.to_string()])
                .map_err(backend)?;
            c.query_row(
                "SELECT code_hash, expires_at, attempts FROM verification_codes WHERE volunteer_id = ?1",
                [id.to_string()],
                |r| Ok((r.get(0)?, parse_ts(&r.get::<_, String>(1)?)?, r.get(2)?)),
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn clear_verification(&self, id: VolunteerId) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "DELETE FROM verification_codes WHERE volunteer_id = ?1",
                [id.to_string()],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn save_positions(&self, fixes: &[PositionFix]) -> Result<()> {
        let fixes = fixes.to_vec();
        self.write(move |c| {
            let mut s = c
                .prepare_cached(
                    "INSERT INTO positions (volunteer_id, lat, lon, at_unix) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (volunteer_id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, at_unix = excluded.at_unix
                     WHERE excluded.at_unix >= positions.at_unix",
                )
                .map_err(backend)?;
            for f in &fixes {
                s.execute(params![f.volunteer.to_string(), f.position.lat, f.position.lon, f.at_unix]).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_position(&self, id: VolunteerId) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "DELETE FROM positions WHERE volunteer_id = ?1",
                [id.to_string()],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn positions(&self) -> Result<Vec<PositionFix>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT volunteer_id, lat, lon, at_unix FROM positions")
                .map_err(backend)?;
            let rows = s
                .query_map([], |r| {
                    Ok(PositionFix {
                        volunteer: VolunteerId(uuid_col(r, 0)?),
                        position: LatLon {
                            lat: r.get(1)?,
                            lon: r.get(2)?,
                        },
                        at_unix: r.get(3)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn purge_positions(&self, before_unix: u32) -> Result<Vec<VolunteerId>> {
        self.write(move |c| {
            let mut s = c
                .prepare("DELETE FROM positions WHERE at_unix < ?1 RETURNING volunteer_id")
                .map_err(backend)?;
            let rows = s
                .query_map([before_unix], |r| Ok(VolunteerId(uuid_col(r, 0)?)))
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn add_device(&self, d: &Device) -> Result<()> {
        let d = d.clone();
        self.write(move |c| {
            // The same endpoint registered again replaces the old registration.
            let rec = json(&d.recipient);
            c.execute("DELETE FROM devices WHERE volunteer_id = ?1 AND recipient = ?2", params![d.volunteer.to_string(), rec])
                .map_err(backend)?;
            c.execute(
                "INSERT INTO devices (id, volunteer_id, recipient, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![d.id.to_string(), d.volunteer.to_string(), rec, ts(d.created_at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn devices(&self, volunteer: VolunteerId) -> Result<Vec<Device>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT id, volunteer_id, recipient, created_at FROM devices WHERE volunteer_id = ?1 ORDER BY created_at")
                .map_err(backend)?;
            let rows = s
                .query_map([volunteer.to_string()], |r| {
                    Ok(Device {
                        id: uuid_col(r, 0)?,
                        volunteer: VolunteerId(uuid_col(r, 1)?),
                        recipient: from_json(&r.get::<_, String>(2)?)?,
                        created_at: parse_ts(&r.get::<_, String>(3)?)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn delete_device(&self, volunteer: VolunteerId, id: Uuid) -> Result<bool> {
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM devices WHERE id = ?1 AND volunteer_id = ?2",
                    params![id.to_string(), volunteer.to_string()],
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }
}
