#![no_main]
//! Any byte string: signature verification must return Ok or Err, never
//! panic, hang or blow the stack/heap. The trust store holds the test
//! RSA and EC certificates, so inputs derived from the signed seeds reach
//! canonicalization, digesting and the signature check.

use firstlink_cad::{TrustStore, verify_cap_signature};
use libfuzzer_sys::fuzz_target;

static RSA: &str = include_str!("../../tests/fixtures/dsig/keys/rsa.pem");
static EC: &str = include_str!("../../tests/fixtures/dsig/keys/ec.pem");

fuzz_target!(|data: &[u8]| {
    let trust = TrustStore::from_pem(&[RSA, EC]).expect("test certificates parse");
    let _ = verify_cap_signature(data, &trust);
});
