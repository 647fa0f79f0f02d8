//! The Accounts area of the SqliteStore backend.

use super::*;

#[async_trait]
impl Accounts for SqliteStore {
    async fn create_region(&self, r: &Region) -> Result<()> {
        let r = r.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO regions (id, slug, name, timezone, country, policy, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![r.id.to_string(), r.slug, r.name, r.timezone, r.country, json(&r.policy), ts(r.created_at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn regions(&self) -> Result<Vec<Region>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT id, slug, name, timezone, country, policy, created_at FROM regions ORDER BY slug")
                .map_err(backend)?;
            let rows = s.query_map([], region_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn update_policy(&self, id: RegionId, policy: &DispatchPolicy) -> Result<()> {
        let p = json(policy);
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE regions SET policy = ?1 WHERE id = ?2",
                    params![p, id.to_string()],
                )
                .map_err(backend)?;
            if n == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn create_api_key(&self, k: &ApiKey) -> Result<()> {
        let k = k.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO api_keys (id, region_id, name, hash, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![k.id, k.region_id.to_string(), k.name, k.hash, ts(k.created_at), k.revoked_at.map(ts)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKey>> {
        let id = id.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT id, region_id, name, hash, created_at, revoked_at FROM api_keys WHERE id = ?1",
                [id],
                api_key_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn api_keys(&self, region: RegionId) -> Result<Vec<ApiKey>> {
        self.read(move |c| {
            let mut s = c
                .prepare("SELECT id, region_id, name, hash, created_at, revoked_at FROM api_keys WHERE region_id = ?1 ORDER BY created_at")
                .map_err(backend)?;
            let rows = s.query_map([region.to_string()], api_key_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        let id = id.to_string();
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2",
                    params![ts(at), id],
                )
                .map_err(backend)?;
            if n == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn create_operator(&self, o: &Operator) -> Result<()> {
        let o = o.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO operators (id, username, password_hash, role, regions, created_at, disabled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![o.id.to_string(), o.username, o.password_hash, o.role.as_str(), json(&o.regions), ts(o.created_at), o.disabled_at.map(ts)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn operator_by_username(&self, username: &str) -> Result<Option<Operator>> {
        let u = username.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT id, username, password_hash, role, regions, created_at, disabled_at FROM operators WHERE username = ?1",
                [u],
                operator_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn operator(&self, id: Uuid) -> Result<Option<Operator>> {
        self.read(move |c| {
            c.query_row(
                "SELECT id, username, password_hash, role, regions, created_at, disabled_at FROM operators WHERE id = ?1",
                [id.to_string()],
                operator_row,
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn operators(&self) -> Result<Vec<Operator>> {
        self.read(|c| {
            let mut s = c
                .prepare("SELECT id, username, password_hash, role, regions, created_at, disabled_at FROM operators ORDER BY username")
                .map_err(backend)?;
            let rows = s.query_map([], operator_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn create_session(&self, s: &Session) -> Result<()> {
        let s = s.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO sessions (token_hash, kind, subject, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![s.token_hash, enum_str(&s.kind), s.subject.to_string(), ts(s.created_at), ts(s.expires_at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let h = token_hash.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT token_hash, kind, subject, created_at, expires_at FROM sessions WHERE token_hash = ?1",
                [h],
                |r| {
                    Ok(Session {
                        token_hash: r.get(0)?,
                        kind: str_enum(&r.get::<_, String>(1)?)?,
                        subject: uuid_col(r, 2)?,
                        created_at: parse_ts(&r.get::<_, String>(3)?)?,
                        expires_at: parse_ts(&r.get::<_, String>(4)?)?,
                    })
                },
            )
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let h = token_hash.to_string();
        self.write(move |c| {
            c.execute("DELETE FROM sessions WHERE token_hash = ?1", [h])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn delete_sessions_of(&self, subject: Uuid) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "DELETE FROM sessions WHERE subject = ?1",
                [subject.to_string()],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn audit(&self, e: &AuditEntry) -> Result<()> {
        let e = e.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO audit (at, actor, action, region_id, target, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![ts(e.at), e.actor, e.action, e.region_id.map(|r| r.to_string()), e.target, e.details.to_string()],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn audit_log(&self, region: Option<RegionId>, limit: u32) -> Result<Vec<AuditEntry>> {
        self.read(move |c| {
            let mut s = c
                .prepare(
                    "SELECT at, actor, action, region_id, target, details FROM audit
                     WHERE ?1 IS NULL OR region_id = ?1 ORDER BY id DESC LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = s
                .query_map(params![region.map(|r| r.to_string()), limit], |r| {
                    let reg: Option<String> = r.get(3)?;
                    Ok(AuditEntry {
                        at: parse_ts(&r.get::<_, String>(0)?)?,
                        actor: r.get(1)?,
                        action: r.get(2)?,
                        region_id: reg.and_then(|s| s.parse().ok()),
                        target: r.get(4)?,
                        details: from_json(&r.get::<_, String>(5)?)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        let k = key.to_string();
        self.read(move |c| {
            c.query_row("SELECT value FROM settings WHERE key = ?1", [k], |r| {
                r.get(0)
            })
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let (k, v) = (key.to_string(), value.to_string());
        self.write(move |c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![k, v],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }
}
