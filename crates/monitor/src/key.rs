//! Per-unit secrets. A unit's key is derived from one master secret, the
//! unit's id and a generation number, so the database stores no secret:
//! revoking a unit's credentials is bumping its generation.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Domain-separation label of the key derivation.
const DERIVE_LABEL: &[u8] = b"firstlink-unit-key\0";

/// Shortest truncated tag [`UnitKey::verify`] accepts (64 bits).
pub const MIN_TAG_LEN: usize = 8;

/// A unit's 256-bit secret: HMAC-SHA256 key for payload MACs, and (as its
/// base64url text, [`UnitKey::to_secret`]) the unit's MQTT password / bearer
/// secret. `Debug` never prints it.
#[derive(Clone)]
pub struct UnitKey([u8; 32]);

impl fmt::Debug for UnitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnitKey(..)")
    }
}

impl UnitKey {
    /// `HMAC-SHA256(master, b"firstlink-unit-key\0" || unit uuid (16 bytes) || generation (u32 BE))`.
    pub fn derive(master: &[u8; 32], unit: Uuid, generation: u32) -> UnitKey {
        let mut m = keyed(master);
        m.update(DERIVE_LABEL);
        m.update(unit.as_bytes());
        m.update(&generation.to_be_bytes());
        UnitKey(m.finalize().into_bytes().into())
    }

    /// A key from its raw bytes (tests, provisioning tools).
    pub fn from_bytes(bytes: [u8; 32]) -> UnitKey {
        UnitKey(bytes)
    }

    /// The key as text: base64url without padding, 43 characters.
    pub fn to_secret(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Parses [`UnitKey::to_secret`]'s form; anything else (other length,
    /// padding, standard-alphabet `+`/`/`, non-canonical trailing bits) is `None`.
    pub fn from_secret(s: &str) -> Option<UnitKey> {
        if s.len() != 43 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(UnitKey(arr))
    }

    /// HMAC-SHA256 of `data` under this key.
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut m = keyed(&self.0);
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// Whether `tag` is the MAC of `data`, or its first `tag.len()` bytes;
    /// tags shorter than 8 or longer than 32 bytes are refused. Constant time
    /// in the tag's contents.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        if !(MIN_TAG_LEN..=32).contains(&tag.len()) {
            return false;
        }
        let mut m = keyed(&self.0);
        m.update(data);
        m.verify_truncated_left(tag).is_ok()
    }

    /// Whether `presented` is this key's secret text (MQTT password, HTTP
    /// bearer secret). Constant time in the contents.
    pub fn matches_secret(&self, presented: &str) -> bool {
        ct_eq(self.to_secret().as_bytes(), presented.as_bytes())
    }
}

/// An HMAC-SHA256 instance keyed with a 32-byte key. HMAC pads keys shorter
/// than the hash's 64-byte block with zeros, so handing it the zero-padded
/// block is the same function, and infallible.
fn keyed(key: &[u8; 32]) -> HmacSha256 {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <HmacSha256 as KeyInit>::new(&block.into())
}

/// Equality whose running time depends only on the lengths.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn mac_matches_rfc4231_test_case_1() {
        // Key 0x0b × 20; HMAC zero-pads short keys, so the 32-byte key with
        // 12 trailing zeros is the same key.
        let mut k = [0u8; 32];
        k[..20].fill(0x0b);
        let key = UnitKey::from_bytes(k);
        assert_eq!(
            hex(&key.mac(b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn mac_equals_the_library_keyed_from_slice() {
        let key = UnitKey::from_bytes([7u8; 32]);
        let mut m = <HmacSha256 as Mac>::new_from_slice(&[7u8; 32]).unwrap();
        m.update(b"payload");
        let want: [u8; 32] = m.finalize().into_bytes().into();
        assert_eq!(key.mac(b"payload"), want);
    }

    #[test]
    fn derive_is_hmac_of_label_uuid_and_generation() {
        let master = [0x42u8; 32];
        let unit = Uuid::parse_str("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b").unwrap();
        let mut data = Vec::new();
        data.extend_from_slice(b"firstlink-unit-key\0");
        data.extend_from_slice(unit.as_bytes());
        data.extend_from_slice(&3u32.to_be_bytes());
        let want = UnitKey::from_bytes(master).mac(&data);
        let got = UnitKey::derive(&master, unit, 3);
        assert_eq!(got.0, want);
        // Known answer, computed independently (Python hmac/hashlib).
        assert_eq!(
            hex(&got.0),
            "eacc04f53f1197054ffdcaee00c54a9e1df40da7918741820b5956f751986705"
        );
    }

    #[test]
    fn generations_and_units_give_different_keys() {
        let master = [1u8; 32];
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        assert_ne!(
            UnitKey::derive(&master, a, 0).0,
            UnitKey::derive(&master, a, 1).0
        );
        assert_ne!(
            UnitKey::derive(&master, a, 0).0,
            UnitKey::derive(&master, b, 0).0
        );
    }

    #[test]
    fn secret_round_trips_and_is_43_url_safe_chars() {
        let key = UnitKey::from_bytes([0xfbu8; 32]);
        let s = key.to_secret();
        assert_eq!(s.len(), 43);
        assert!(
            s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(UnitKey::from_secret(&s).unwrap().0, key.0);
        assert!(key.matches_secret(&s));
    }

    #[test]
    fn from_secret_refuses_other_forms() {
        let key = UnitKey::from_bytes([0xfbu8; 32]);
        let s = key.to_secret();
        assert!(UnitKey::from_secret(&format!("{s}=")).is_none());
        assert!(UnitKey::from_secret(&s[..42]).is_none());
        assert!(UnitKey::from_secret(&s.replace('-', "+").replace('_', "/")).is_none());
        assert!(UnitKey::from_secret("").is_none());
        assert!(UnitKey::from_secret(&"é".repeat(21)).is_none());
        // 43 characters carry 258 bits: the last 2 must be zero.
        let zero = UnitKey::from_bytes([0u8; 32]).to_secret();
        assert_eq!(zero, "A".repeat(43));
        assert!(UnitKey::from_secret(&format!("{}B", "A".repeat(42))).is_none());
        assert!(UnitKey::from_secret(&format!("{}E", "A".repeat(42))).is_some());
    }

    #[test]
    fn matches_secret_refuses_others() {
        let key = UnitKey::from_bytes([9u8; 32]);
        let other = UnitKey::from_bytes([10u8; 32]);
        assert!(!key.matches_secret(&other.to_secret()));
        assert!(!key.matches_secret(""));
        assert!(!key.matches_secret(&key.to_secret()[..42]));
    }

    #[test]
    fn verify_accepts_truncations_from_8_to_32_bytes_only() {
        let key = UnitKey::from_bytes([3u8; 32]);
        let tag = key.mac(b"data");
        for n in 8..=32 {
            assert!(key.verify(b"data", &tag[..n]), "{n}");
        }
        for n in 0..8 {
            assert!(!key.verify(b"data", &tag[..n]), "{n}");
        }
        let mut long = tag.to_vec();
        long.push(0);
        assert!(!key.verify(b"data", &long));
        let mut flipped = tag;
        flipped[5] ^= 1;
        assert!(!key.verify(b"data", &flipped[..16]));
        assert!(!key.verify(b"datA", &tag[..16]));
        assert!(!UnitKey::from_bytes([4u8; 32]).verify(b"data", &tag));
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let key = UnitKey::from_bytes([0xabu8; 32]);
        let d = format!("{key:?}");
        assert_eq!(d, "UnitKey(..)");
        assert!(!d.contains(&key.to_secret()));
    }
}
