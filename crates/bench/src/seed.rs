//! Benchmark volunteers written straight through the store: verified,
//! consented, trained, available, each with a one-day session whose token the
//! load generator presents.

use std::sync::Arc;

use chrono::Utc;
use firstlink_domain::ids::{RegionId, VolunteerId};
use firstlink_domain::volunteer::Tier;
use firstlink_store::{Session, SessionKind, Store, Volunteer};
use futures_util::StreamExt;
use uuid::Uuid;

/// What tells one benchmark's volunteers from another's.
pub struct Kind {
    /// Top byte of every id.
    pub id_tag: u128,
    /// After `flv_` in every token.
    pub token_tag: &'static str,
    /// Before the six-digit number of every phone.
    pub phone_prefix: &'static str,
}

/// `n` volunteers of `region` and their session tokens.
pub fn volunteers(
    seed: u64,
    region: RegionId,
    n: usize,
    kind: &Kind,
) -> (Vec<Volunteer>, Vec<String>) {
    let now = Utc::now();
    let mut tokens = Vec::with_capacity(n);
    let vols = (0..n)
        .map(|i| {
            tokens.push(format!(
                "flv_{}{i:07}{:016x}",
                kind.token_tag,
                seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ));
            Volunteer {
                id: VolunteerId(Uuid::from_u128(kind.id_tag << 120 | i as u128)),
                region_id: region,
                name: format!("Bench {i}"),
                phone: Some(format!("{}{i:06}", kind.phone_prefix)),
                email: None,
                password_hash: "$argon2id$unused".into(),
                language: "da".into(),
                languages: vec!["da".into()],
                birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default(),
                tier: Tier::IncludingHomes,
                training_kind: Some("bls".into()),
                training_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 15),
                consent_at: Some(now),
                verified_at: Some(now),
                suspended_at: None,
                available: true,
                quiet: None,
                created_at: now,
            }
        })
        .collect();
    (vols, tokens)
}

/// Writes the volunteers and their sessions, `concurrency` at a time (so a
/// group-committing store batches them).
pub async fn write(
    store: &Arc<dyn Store>,
    vols: &[Volunteer],
    tokens: &[String],
    concurrency: usize,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let errs: Vec<_> = futures_util::stream::iter(vols.iter().zip(tokens))
        .map(|(v, tok)| {
            let store = Arc::clone(store);
            async move {
                store.create_volunteer(v).await?;
                store
                    .create_session(&Session {
                        token_hash: firstlink_server::auth::sha256_hex(tok),
                        kind: SessionKind::Volunteer,
                        subject: v.id.0,
                        created_at: now,
                        expires_at: now + chrono::Duration::days(1),
                    })
                    .await
            }
        })
        .buffer_unordered(concurrency)
        .filter_map(|r| async move { r.err() })
        .collect()
        .await;
    match errs.first() {
        Some(e) => anyhow::bail!("creating volunteers: {e} ({} errors)", errs.len()),
        None => Ok(()),
    }
}
