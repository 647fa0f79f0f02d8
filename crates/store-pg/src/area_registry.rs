//! The Registry area of the PostgreSQL backend.

use super::*;

#[async_trait]
impl Registry for PgStore {
    async fn upsert_aed(&self, a: &Aed) -> Result<()> {
        self.upsert_aeds(std::slice::from_ref(a)).await
    }

    async fn aeds(&self, region: Option<RegionId>) -> Result<Vec<Aed>> {
        collect(
            self.rows(&format!("SELECT {AED_COLS} FROM aeds WHERE $1::uuid IS NULL OR region_id = $1 ORDER BY id"), &[&region.map(|r| r.0)])
                .await?,
            aed_row,
        )
    }

    async fn aed(&self, id: AedId) -> Result<Option<Aed>> {
        self.opt(
            &format!("SELECT {AED_COLS} FROM aeds WHERE id = $1"),
            &[&id.0],
        )
        .await?
        .as_ref()
        .map(aed_row)
        .transpose()
    }

    async fn upsert_aeds(&self, aeds: &[Aed]) -> Result<()> {
        // One statement: all of them or none.
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(backend)?;
        upsert_aeds_in(&tx, aeds).await?;
        let announced: Vec<Change> = aeds.iter().map(|a| Change::Aed(a.id)).collect();
        changes::announce(&tx, &self.origin, &announced).await?;
        tx.commit().await.map_err(backend)
    }
}
