//! The Accounts area of the PostgreSQL backend.

use super::*;

#[async_trait]
impl Accounts for PgStore {
    async fn create_region(&self, r: &Region) -> Result<()> {
        let policy = to_json(&r.policy)?;
        self.exec_announced(
            &format!("INSERT INTO regions ({REGION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
            &[
                &r.id.0,
                &r.slug,
                &r.name,
                &r.timezone,
                &r.country,
                &policy,
                &r.created_at,
            ],
            &[Change::Region(r.id)],
        )
        .await?;
        Ok(())
    }

    async fn regions(&self) -> Result<Vec<Region>> {
        collect(
            self.rows(
                &format!("SELECT {REGION_COLS} FROM regions ORDER BY slug COLLATE \"C\""),
                &[],
            )
            .await?,
            region_row,
        )
    }

    async fn update_policy(&self, id: RegionId, policy: &DispatchPolicy) -> Result<()> {
        let p = to_json(policy)?;
        found(
            self.exec_announced(
                "UPDATE regions SET policy = $1 WHERE id = $2",
                &[&p, &id.0],
                &[Change::Region(id)],
            )
            .await?,
        )
    }

    async fn create_api_key(&self, k: &ApiKey) -> Result<()> {
        self.exec_announced(
            &format!("INSERT INTO api_keys ({API_KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"),
            &[
                &k.id,
                &k.region_id.0,
                &k.name,
                &k.hash,
                &k.created_at,
                &k.revoked_at,
            ],
            &[Change::ApiKey(k.id.clone())],
        )
        .await?;
        Ok(())
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKey>> {
        self.opt(
            &format!("SELECT {API_KEY_COLS} FROM api_keys WHERE id = $1"),
            &[&id],
        )
        .await?
        .as_ref()
        .map(api_key_row)
        .transpose()
    }

    async fn api_keys(&self, region: RegionId) -> Result<Vec<ApiKey>> {
        collect(
            self.rows(&format!("SELECT {API_KEY_COLS} FROM api_keys WHERE region_id = $1 ORDER BY created_at, id"), &[&region.0])
                .await?,
            api_key_row,
        )
    }

    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        found(
            self.exec_announced(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
                &[&at, &id],
                &[Change::ApiKey(id.to_string())],
            )
            .await?,
        )
    }

    async fn create_operator(&self, o: &Operator) -> Result<()> {
        let regions: Vec<Uuid> = o.regions.iter().map(|r| r.0).collect();
        self.exec_announced(
            &format!("INSERT INTO operators ({OPERATOR_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
            &[
                &o.id,
                &o.username,
                &o.password_hash,
                &o.role.as_str(),
                &regions,
                &o.created_at,
                &o.disabled_at,
            ],
            &[Change::Operator(o.id)],
        )
        .await?;
        Ok(())
    }

    async fn operator_by_username(&self, username: &str) -> Result<Option<Operator>> {
        self.opt(
            &format!("SELECT {OPERATOR_COLS} FROM operators WHERE username = $1"),
            &[&username],
        )
        .await?
        .as_ref()
        .map(operator_row)
        .transpose()
    }

    async fn operator(&self, id: Uuid) -> Result<Option<Operator>> {
        self.opt(
            &format!("SELECT {OPERATOR_COLS} FROM operators WHERE id = $1"),
            &[&id],
        )
        .await?
        .as_ref()
        .map(operator_row)
        .transpose()
    }

    async fn operators(&self) -> Result<Vec<Operator>> {
        collect(
            self.rows(
                &format!("SELECT {OPERATOR_COLS} FROM operators ORDER BY username COLLATE \"C\""),
                &[],
            )
            .await?,
            operator_row,
        )
    }

    async fn create_session(&self, s: &Session) -> Result<()> {
        self.exec(
            "INSERT INTO sessions (token_hash, kind, subject, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[&s.token_hash, &enum_str(&s.kind), &s.subject, &s.created_at, &s.expires_at],
        )
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let row = self
            .opt("SELECT token_hash, kind, subject, created_at, expires_at FROM sessions WHERE token_hash = $1", &[&token_hash])
            .await?;
        row.map(|r| {
            Ok(Session {
                token_hash: get(&r, 0)?,
                kind: enum_col(&r, 1)?,
                subject: get(&r, 2)?,
                created_at: get(&r, 3)?,
                expires_at: get(&r, 4)?,
            })
        })
        .transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.exec("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])
            .await?;
        Ok(())
    }

    async fn delete_sessions_of(&self, subject: Uuid) -> Result<()> {
        self.exec("DELETE FROM sessions WHERE subject = $1", &[&subject])
            .await?;
        Ok(())
    }

    async fn audit(&self, e: &AuditEntry) -> Result<()> {
        self.exec(
            "INSERT INTO audit (at, actor, action, region_id, target, details) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&e.at, &e.actor, &e.action, &e.region_id.map(|r| r.0), &e.target, &e.details],
        )
        .await?;
        Ok(())
    }

    async fn audit_log(&self, region: Option<RegionId>, limit_n: u32) -> Result<Vec<AuditEntry>> {
        let rows = self
            .rows(
                "SELECT at, actor, action, region_id, target, details FROM audit
                 WHERE $1::uuid IS NULL OR region_id = $1 ORDER BY id DESC LIMIT $2",
                &[&region.map(|r| r.0), &limit(limit_n)],
            )
            .await?;
        collect(rows, |r| {
            Ok(AuditEntry {
                at: get(r, 0)?,
                actor: get(r, 1)?,
                action: get(r, 2)?,
                region_id: get::<Option<Uuid>>(r, 3)?.map(RegionId),
                target: get(r, 4)?,
                details: get(r, 5)?,
            })
        })
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        self.opt("SELECT value FROM settings WHERE key = $1", &[&key])
            .await?
            .map(|r| get(&r, 0))
            .transpose()
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.exec_announced(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
            &[Change::Setting(key.to_string())],
        )
        .await?;
        Ok(())
    }
}
