//! The Registry area of the SqliteStore backend.

use super::*;

#[async_trait]
impl Registry for SqliteStore {
    async fn upsert_aed(&self, a: &Aed) -> Result<()> {
        let a = a.clone();
        self.write(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO aeds ({AED_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)
                     ON CONFLICT (id) DO UPDATE SET region_id=excluded.region_id, name=excluded.name, lat=excluded.lat, lon=excluded.lon,
                     access=excluded.access, opening_hours=excluded.opening_hours, readiness=excluded.readiness,
                     status=excluded.status, details=excluded.details, updated_at=excluded.updated_at"
                ),
                params![
                    a.id.to_string(),
                    a.region_id.to_string(),
                    a.name,
                    a.position.lat,
                    a.position.lon,
                    enum_str(&a.access),
                    a.opening_hours,
                    enum_str(&a.readiness),
                    enum_str(&a.status),
                    json(&a.details),
                    ts(a.updated_at)
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn aeds(&self, region: Option<RegionId>) -> Result<Vec<Aed>> {
        self.read(move |c| {
            let mut s = c
                .prepare(&format!(
                    "SELECT {AED_COLS} FROM aeds WHERE ?1 IS NULL OR region_id = ?1 ORDER BY id"
                ))
                .map_err(backend)?;
            let rows = s
                .query_map([region.map(|r| r.to_string())], aed_row)
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn aed(&self, id: AedId) -> Result<Option<Aed>> {
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {AED_COLS} FROM aeds WHERE id = ?1"),
                [id.to_string()],
                aed_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn upsert_aeds(&self, aeds: &[Aed]) -> Result<()> {
        let aeds = aeds.to_vec();
        self.write(move |c| {
            let mut s = c
                .prepare(&format!(
                    "INSERT INTO aeds ({AED_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)
                     ON CONFLICT (id) DO UPDATE SET region_id=excluded.region_id, name=excluded.name, lat=excluded.lat, lon=excluded.lon,
                     access=excluded.access, opening_hours=excluded.opening_hours, readiness=excluded.readiness,
                     status=excluded.status, details=excluded.details, updated_at=excluded.updated_at"
                ))
                .map_err(backend)?;
            for a in &aeds {
                s.execute(params![
                    a.id.to_string(),
                    a.region_id.to_string(),
                    a.name,
                    a.position.lat,
                    a.position.lon,
                    enum_str(&a.access),
                    a.opening_hours,
                    enum_str(&a.readiness),
                    enum_str(&a.status),
                    json(&a.details),
                    ts(a.updated_at)
                ])
                .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }
}
