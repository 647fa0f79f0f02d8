//! Who is calling: API keys, sessions, roles and regions.
//!
//! Three kinds of bearer token, told apart by prefix:
//! - `flk_<id>_<secret>`: a dispatch API key of one region. The secret is
//!   stored as an argon2 hash; a verified key is cached (by SHA-256 of the
//!   whole token) for a short time so argon2 does not run on every request.
//! - `flo_<secret>`: an operator session (dispatcher, operator, admin).
//! - `flv_<secret>`: a volunteer session.
//!
//! Session secrets are 256 random bits, so they are stored as SHA-256 (a slow
//! hash adds nothing against guessing 2^256); passwords use argon2.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use firstlink_domain::ids::{RegionId, VolunteerId};
use firstlink_store::OperatorRole;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// A dispatch centre's system, by API key.
    Dispatch {
        region: RegionId,
        key_id: String,
    },
    Operator {
        id: Uuid,
        username: String,
        role: OperatorRole,
        regions: Vec<RegionId>,
    },
    Volunteer {
        id: VolunteerId,
        region: RegionId,
    },
}

impl Principal {
    /// May act on incidents of `region` (create, update, follow).
    pub fn can_dispatch(&self, region: RegionId) -> bool {
        match self {
            Self::Dispatch { region: r, .. } => *r == region,
            Self::Operator {
                role: OperatorRole::Admin,
                ..
            } => true,
            Self::Operator {
                role: OperatorRole::Technician,
                ..
            } => false,
            Self::Operator { regions, .. } => regions.contains(&region),
            Self::Volunteer { .. } => false,
        }
    }

    /// Sees AED readiness and works service tickets.
    pub fn can_service(&self, region: RegionId) -> bool {
        match self {
            Self::Operator {
                role: OperatorRole::Admin,
                ..
            } => true,
            Self::Operator {
                role: OperatorRole::Operator | OperatorRole::Technician,
                regions,
                ..
            } => regions.contains(&region),
            _ => false,
        }
    }

    /// May manage volunteers, AEDs and settings of `region`.
    pub fn can_operate(&self, region: RegionId) -> bool {
        match self {
            Self::Operator {
                role: OperatorRole::Admin,
                ..
            } => true,
            Self::Operator {
                role: OperatorRole::Operator,
                regions,
                ..
            } => regions.contains(&region),
            _ => false,
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Self::Operator {
                role: OperatorRole::Admin,
                ..
            }
        )
    }

    /// For the audit log.
    pub fn actor(&self) -> String {
        match self {
            Self::Dispatch { key_id, .. } => format!("api-key:{key_id}"),
            Self::Operator { username, .. } => format!("operator:{username}"),
            Self::Volunteer { id, .. } => format!("volunteer:{id}"),
        }
    }

    /// Regions this principal may see incidents of; `None` = all (admin).
    pub fn dispatch_regions(&self) -> Option<Vec<RegionId>> {
        match self {
            Self::Dispatch { region, .. } => Some(vec![*region]),
            Self::Operator {
                role: OperatorRole::Admin,
                ..
            } => None,
            Self::Operator {
                role: OperatorRole::Technician,
                ..
            } => Some(vec![]),
            Self::Operator { regions, .. } => Some(regions.clone()),
            Self::Volunteer { .. } => Some(vec![]),
        }
    }
}

/// 32 random bytes, base64url without padding.
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A short random id of lowercase letters and digits.
pub fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyz23456789";
    let mut b = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter()
        .map(|x| ALPHABET[usize::from(*x) % ALPHABET.len()] as char)
        .collect()
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub fn hash_password(pw: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

/// Constant-time verification; a malformed stored hash verifies nothing.
pub fn verify_password(pw: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default().verify_password(pw.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// A freshly minted dispatch API key: the full token (shown once) and its parts.
pub struct NewApiKey {
    pub token: String,
    pub id: String,
    pub hash: String,
}

pub fn new_api_key() -> anyhow::Result<NewApiKey> {
    let id = random_id(12);
    let secret = random_secret();
    let hash = hash_password(&secret)?;
    Ok(NewApiKey {
        token: format!("flk_{id}_{secret}"),
        id,
        hash,
    })
}

/// Splits `flk_<id>_<secret>`.
pub fn parse_api_key(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("flk_")?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty() && id.len() <= 32).then_some((id, secret))
}

/// Verified tokens, kept briefly so that argon2 and the database are not
/// asked on every request. Revocation and suspension clear entries.
#[derive(Default)]
pub struct TokenCache {
    inner: Mutex<HashMap<String, (Principal, Instant)>>,
}

const CACHE_TTL: Duration = Duration::from_secs(30);
const CACHE_MAX: usize = 200_000;

impl TokenCache {
    pub fn get(&self, token_hash: &str) -> Option<Principal> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.get(token_hash)
            .filter(|(_, t)| t.elapsed() < CACHE_TTL)
            .map(|(p, _)| p.clone())
    }

    pub fn put(&self, token_hash: String, p: Principal) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() >= CACHE_MAX {
            g.retain(|_, (_, t)| t.elapsed() < CACHE_TTL);
            if g.len() >= CACHE_MAX {
                g.clear();
            }
        }
        g.insert(token_hash, (p, Instant::now()));
    }

    /// Drops every cached token whose principal matches.
    pub fn forget(&self, f: impl Fn(&Principal) -> bool) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.retain(|_, (p, _)| !f(p));
    }
}

/// A token bucket per client address for the public endpoints.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<std::net::IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token; `Err(seconds)` to wait when the bucket is empty.
    pub fn check(&self, ip: std::net::IpAddr) -> Result<(), u64> {
        let cap = f64::from(self.per_minute.max(1));
        let rate = cap / 60.0;
        let mut g = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() > 100_000 {
            g.retain(|_, (_, t)| t.elapsed() < Duration::from_secs(120));
        }
        let now = Instant::now();
        let (tokens, last) = g.entry(ip).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_round_trip_and_verify() {
        let k = new_api_key().unwrap();
        let (id, secret) = parse_api_key(&k.token).unwrap();
        assert_eq!(id, k.id);
        assert!(verify_password(secret, &k.hash));
        assert!(!verify_password("wrong", &k.hash));
        assert!(parse_api_key("flk__x").is_none());
        assert!(parse_api_key("Bearer xyz").is_none());
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn roles_are_scoped_to_regions() {
        let (a, b) = (RegionId::new(), RegionId::new());
        let key = Principal::Dispatch {
            region: a,
            key_id: "k".into(),
        };
        assert!(key.can_dispatch(a) && !key.can_dispatch(b) && !key.can_operate(a));
        let disp = Principal::Operator {
            id: Uuid::nil(),
            username: "d".into(),
            role: OperatorRole::Dispatcher,
            regions: vec![a],
        };
        assert!(disp.can_dispatch(a) && !disp.can_operate(a) && !disp.can_dispatch(b));
        let op = Principal::Operator {
            id: Uuid::nil(),
            username: "o".into(),
            role: OperatorRole::Operator,
            regions: vec![b],
        };
        assert!(op.can_operate(b) && !op.can_operate(a));
        let admin = Principal::Operator {
            id: Uuid::nil(),
            username: "a".into(),
            role: OperatorRole::Admin,
            regions: vec![],
        };
        assert!(admin.can_operate(a) && admin.can_dispatch(b) && admin.is_admin());
    }

    #[test]
    fn rate_limiter_empties_and_refills() {
        let r = RateLimiter::new(3);
        let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        assert!(r.check(ip).is_ok() && r.check(ip).is_ok() && r.check(ip).is_ok());
        assert!(r.check(ip).is_err());
        assert!(r.check("127.0.0.2".parse().unwrap()).is_ok());
    }
}
