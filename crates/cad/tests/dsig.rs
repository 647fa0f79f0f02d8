//! XML-DSig verification of CAP alerts against fixtures made by an
//! independent implementation (signxml / lxml / libxml2, see
//! `tests/fixtures/dsig/README.md`), the real signed alerts of the shared
//! samples (`shared/data/cap`), and hand-made tampering and wrapping attacks.

mod common;
use common::mutate;

use std::path::{Path, PathBuf};

use firstlink_cad::dsig::{self, C14nMethod, CertError, KeyKind, SignatureMethod};
use firstlink_cad::{
    CapMapping, DsigError, ParsedCap, TrustStore, TrustedCert, parse_cap, verify_cap_signature,
};
use proptest::prelude::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dsig")
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn shared(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pem(name: &str) -> String {
    String::from_utf8(fixture(&format!("keys/{name}.pem"))).unwrap()
}

fn trust(names: &[&str]) -> TrustStore {
    let pems: Vec<String> = names.iter().map(|n| pem(n)).collect();
    TrustStore::from_pem(&pems).unwrap()
}

/// The region's configuration in these tests: the test RSA and EC certificates.
fn ours() -> TrustStore {
    trust(&["rsa", "ec"])
}

fn mapping() -> CapMapping {
    CapMapping {
        events: vec!["Earthquake".into(), "Fire".into(), "Cardiac arrest".into()],
        ..CapMapping::default()
    }
}

fn signed(name: &str) -> Vec<u8> {
    fixture(&format!("signed/{name}"))
}

/// `hay` with the single occurrence of `from` replaced by `to`.
fn edit(hay: &[u8], from: &str, to: &str) -> Vec<u8> {
    let (from, to) = (from.as_bytes(), to.as_bytes());
    let hits: Vec<usize> = hay
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{:?} occurs {} times",
        String::from_utf8_lossy(from),
        hits.len()
    );
    let mut out = hay[..hits[0]].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&hay[hits[0] + from.len()..]);
    out
}

fn find(hay: &[u8], needle: &str) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w == needle.as_bytes())
}

/// The byte range of the `Signature` element (prefixed `ds:` or not).
fn signature_span(xml: &[u8]) -> std::ops::Range<usize> {
    let (start, end_tag) = match find(xml, "<ds:Signature") {
        Some(s) => (s, "</ds:Signature>"),
        None => (find(xml, "<Signature").unwrap(), "</Signature>"),
    };
    let end = find(xml, end_tag).unwrap() + end_tag.len();
    start..end
}

fn verify(xml: &[u8]) -> Result<dsig::VerifiedSignature, DsigError> {
    verify_cap_signature(xml, &ours())
}

// ---------------------------------------------------------------------------
// Canonicalization against lxml (libxml2)
// ---------------------------------------------------------------------------

fn c14n_methods() -> Vec<(&'static str, C14nMethod)> {
    vec![
        ("inc", C14nMethod::Inclusive { comments: false }),
        ("inc-comments", C14nMethod::Inclusive { comments: true }),
        (
            "exc",
            C14nMethod::Exclusive {
                comments: false,
                prefixes: vec![],
            },
        ),
        (
            "exc-comments",
            C14nMethod::Exclusive {
                comments: true,
                prefixes: vec![],
            },
        ),
        (
            "exc-prefixes",
            C14nMethod::Exclusive {
                comments: false,
                prefixes: vec!["unused".into(), "z".into()],
            },
        ),
    ]
}

#[test]
fn canonical_forms_match_libxml2() {
    let mut checked = 0;
    for doc in ["prolog", "text", "namespaces", "latin1"] {
        let input = fixture(&format!("c14n/{doc}.xml"));
        for (suffix, method) in c14n_methods() {
            let expected = fixture(&format!("c14n/{doc}.{suffix}.out"));
            let got = dsig::canonicalize(&input, &method).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&expected),
                "{doc} {suffix}"
            );
            checked += 1;
            let apex = fixtures().join(format!("c14n/{doc}.apex.{suffix}.out"));
            if let Ok(expected) = std::fs::read(&apex) {
                let got = dsig::canonicalize_element(&input, &method, Some("urn:d"), "apex")
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&expected),
                    "{doc} apex {suffix}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 25);
}

// ---------------------------------------------------------------------------
// What verifies
// ---------------------------------------------------------------------------

/// (fixture, certificate index in `ours()`, method, canonicalization of SignedInfo)
const VALID: &[(&str, usize, SignatureMethod, &str)] = &[
    ("a3-rsa-exc.xml", 0, SignatureMethod::RsaSha256, "exc-c14n"),
    ("a3-rsa-inc.xml", 0, SignatureMethod::RsaSha256, "c14n"),
    (
        "a3-rsa-exc-only-enveloped.xml",
        0,
        SignatureMethod::RsaSha256,
        "exc-c14n",
    ),
    (
        "a3-ec-exc-comments-default-ns.xml",
        1,
        SignatureMethod::EcdsaSha256,
        "exc-c14n#WithComments",
    ),
    (
        "a3-ec-inc-comments.xml",
        1,
        SignatureMethod::EcdsaSha256,
        "c14n#WithComments",
    ),
    (
        "a3-rsa-exc-nocert.xml",
        0,
        SignatureMethod::RsaSha256,
        "exc-c14n",
    ),
    (
        "a3-ec-inc-nocert.xml",
        1,
        SignatureMethod::EcdsaSha256,
        "c14n",
    ),
    (
        "australia-ec-exc.xml",
        1,
        SignatureMethod::EcdsaSha256,
        "exc-c14n",
    ),
    (
        "australia-rsa-inc.xml",
        0,
        SignatureMethod::RsaSha256,
        "c14n",
    ),
    (
        "tricky-rsa-exc.xml",
        0,
        SignatureMethod::RsaSha256,
        "exc-c14n",
    ),
    ("tricky-rsa-inc.xml", 0, SignatureMethod::RsaSha256, "c14n"),
    (
        "tricky-ec-exc-prefixes.xml",
        1,
        SignatureMethod::EcdsaSha256,
        "exc-c14n",
    ),
    (
        "tricky-latin1-ec-inc-comments.xml",
        1,
        SignatureMethod::EcdsaSha256,
        "c14n#WithComments",
    ),
];

#[test]
fn every_signxml_fixture_verifies_and_parses() {
    for &(name, cert, method, c14n) in VALID {
        let xml = signed(name);
        let v = verify(&xml).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (v.certificate, v.method, v.canonicalization.name()),
            (cert, method, c14n),
            "{name}"
        );
        assert!(
            v.subject.contains("firstlink test CAD"),
            "{name}: {}",
            v.subject
        );
        let p = parse_cap(&xml, &mapping()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(p.signed, "{name}");
    }
}

#[test]
fn the_certificate_order_does_not_matter() {
    let v = verify_cap_signature(
        &signed("a3-ec-inc-nocert.xml"),
        &trust(&["other", "rsa", "ec"]),
    )
    .unwrap();
    assert_eq!(v.certificate, 2);
}

#[test]
fn real_ipaws_alerts_verify_with_their_pinned_certificates() {
    let certs = [
        "ipaws-5e6dd9de023f1930ef6548d9",
        "ipaws-5e6ddbad023f1930ef6c1a5a",
        "ipaws-5e7e0fc5023f1930efcf3deb",
    ];
    let store = trust(&certs);
    for (i, name) in certs.iter().enumerate() {
        let xml = shared(&format!("cap/1.2/{name}.xml"));
        let v = verify_cap_signature(&xml, &store).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.certificate, i, "{name}");
        assert!(v.subject.contains("IPAWSOPEN"), "{}", v.subject);
        assert_eq!(v.method, SignatureMethod::RsaSha256);
        // Pinning: another IPAWS device's certificate does not do.
        let others = trust(&[certs[(i + 1) % 3]]);
        assert!(matches!(
            verify_cap_signature(&xml, &others),
            Err(DsigError::UntrustedKey { .. })
        ));
    }
}

#[test]
fn other_shared_signed_samples_are_refused_for_the_right_reason() {
    let store = ours();
    let check = |rel: &str, want: fn(&DsigError) -> bool| {
        let got = verify_cap_signature(&shared(rel), &store);
        assert!(matches!(&got, Err(e) if want(e)), "{rel}: {got:?}");
    };
    check("cap/1.2/caplib-earthquake-iso8859-1.xml", |e| {
        matches!(
            e,
            DsigError::WeakAlgorithm {
                element: "SignatureMethod",
                ..
            }
        )
    });
    check("cap/invalid/caplib-earthquake_signed.xml", |e| {
        matches!(e, DsigError::WeakAlgorithm { .. })
    });
    // Two sibling signatures (NAADS and Environment Canada).
    check("cap/1.2/caplib-canada_signed.xml", |e| {
        matches!(e, DsigError::Misplaced { .. })
    });
    // An empty <Signature/> placeholder.
    check("cap/1.2/google-PAAQ-4-mg5a94.xml", |e| {
        matches!(e, DsigError::Malformed { .. })
    });
    check("cap/1.2/oasis-cap12-appendix-a3.xml", |e| {
        *e == DsigError::Unsigned
    });
}

#[test]
fn no_trusted_certificates_means_unverifiable() {
    let got = verify_cap_signature(&signed("a3-rsa-exc.xml"), &TrustStore::default());
    assert_eq!(got, Err(DsigError::NoTrustedCertificates));
    assert_eq!(got.unwrap_err().code(), "signature_unverifiable");
    // Unsigned stays unsigned.
    assert_eq!(
        verify_cap_signature(
            &shared("cap/1.2/oasis-cap12-appendix-a3.xml"),
            &TrustStore::default()
        ),
        Err(DsigError::Unsigned)
    );
}

// ---------------------------------------------------------------------------
// Tampering
// ---------------------------------------------------------------------------

#[test]
fn tampered_content_is_a_digest_mismatch() {
    let a3 = signed("a3-rsa-exc.xml");
    let tricky = signed("tricky-rsa-inc.xml");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "text",
            edit(
                &a3,
                "<circle>32.9525,-115.5527 0</circle>",
                "<circle>32.9526,-115.5527 0</circle>",
            ),
        ),
        (
            "text (ec)",
            edit(
                &signed("a3-ec-inc-comments.xml"),
                "EQ 3.4 Imperial County CA",
                "EQ 3.4 Imperial County  CA",
            ),
        ),
        (
            "whitespace between elements",
            edit(&a3, "<scope>Public</scope>", "<scope>Public</scope> "),
        ),
        ("attribute", edit(&tricky, "ext:z=\"1\"", "ext:z=\"2\"")),
        (
            "attribute added",
            edit(&tricky, "<ext:empty/>", "<ext:empty ext:flag=\"1\"/>"),
        ),
        (
            "namespace",
            edit(
                &tricky,
                "xmlns:ext2=\"urn:example:ext2-changed\"",
                "xmlns:ext2=\"urn:example:ext2-other\"",
            ),
        ),
        (
            "removed element",
            edit(&a3, "<web>http://www.trinet.org/scsn/scsn.html</web>", ""),
        ),
        (
            "added element",
            edit(
                &a3,
                "<scope>Public</scope>",
                "<scope>Public</scope><note>x</note>",
            ),
        ),
        (
            "prefix",
            edit(
                &signed("australia-ec-exc.xml"),
                "<cap:identifier>tag:www.rfs.nsw.gov.au2011-10-06:40184</cap:identifier>",
                "<c2:identifier xmlns:c2=\"urn:oasis:names:tc:emergency:cap:1.2\">tag:www.rfs.nsw.gov.au2011-10-06:40184</c2:identifier>",
            ),
        ),
        (
            "processing instruction",
            edit(&a3, "<scope>Public</scope>", "<scope>Public</scope><?x y?>"),
        ),
        ("prolog", {
            let mut v = b"<?xml-stylesheet href=\"cap.xsl\" type=\"text/xsl\"?>".to_vec();
            v.extend_from_slice(&a3[find(&a3, "<alert").unwrap()..]);
            v
        }),
    ];
    for (what, xml) in cases {
        assert_eq!(verify(&xml), Err(DsigError::DigestMismatch), "{what}");
    }
}

#[test]
fn tampered_signed_info_or_value_is_invalid() {
    let a3 = signed("a3-rsa-exc.xml");
    // SignedInfo changed in a way that keeps the reference intact.
    let xml = edit(&a3, "<ds:SignedInfo>", "<ds:SignedInfo> ");
    assert!(matches!(verify(&xml), Err(DsigError::Invalid { .. })));
    // A flipped bit in the signature value (RSA and ECDSA).
    for name in ["a3-rsa-exc.xml", "a3-ec-inc-comments.xml"] {
        let xml = signed(name);
        let at = find(&xml, "SignatureValue>").unwrap() + "SignatureValue>".len() + 10;
        let mut bad = xml.clone();
        bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
        let got = verify(&bad);
        assert!(
            matches!(got, Err(DsigError::Invalid { .. })),
            "{name}: {got:?}"
        );
    }
    // A comment in SignedInfo counts only with #WithComments.
    let with = edit(
        &signed("a3-ec-inc-comments.xml"),
        "<ds:SignedInfo>",
        "<ds:SignedInfo><!--x-->",
    );
    assert!(matches!(verify(&with), Err(DsigError::Invalid { .. })));
    let without = edit(&a3, "<ds:SignedInfo>", "<ds:SignedInfo><!--x-->");
    assert!(verify(&without).is_ok());
}

#[test]
fn equivalent_serializations_still_verify_and_parse_the_same() {
    let a3 = signed("a3-rsa-exc.xml");
    let original = parse_cap(&a3, &mapping()).unwrap();
    let variants: Vec<(&str, Vec<u8>)> = vec![
        // Comments never count for URI="".
        (
            "comment",
            edit(
                &a3,
                "<status>Actual</status>",
                "<status>Act<!-- not signed -->ual</status>",
            ),
        ),
        // … not even when the transform is #WithComments (XML-DSig §4.4.3.3).
        (
            "comment, WithComments",
            edit(
                &signed("a3-ec-exc-comments-default-ns.xml"),
                "<status>Actual</status>",
                "<!-- not signed --><status>Actual</status>",
            ),
        ),
        (
            "character reference",
            edit(
                &a3,
                "<identifier>TRI13970876.2</identifier>",
                "<identifier>TRI13970876&#46;2</identifier>",
            ),
        ),
        (
            "CDATA",
            edit(
                &a3,
                "<event>Earthquake</event>",
                "<event><![CDATA[Earth]]>quake</event>",
            ),
        ),
        (
            "empty-element tag",
            edit(
                &signed("tricky-rsa-exc.xml"),
                "<ext:empty/>",
                "<ext:empty></ext:empty>",
            ),
        ),
        (
            "attribute quotes and spacing",
            edit(&signed("tricky-rsa-exc.xml"), "b=\"2\"", "b = '2'"),
        ),
        ("CRLF", {
            let s = String::from_utf8(a3.clone()).unwrap();
            s.replace('\n', "\r\n").into_bytes()
        }),
        (
            "declaration",
            edit(
                &a3,
                "<?xml version = \"1.0\" encoding = \"UTF-8\"?>",
                "<?xml version='1.0'?>",
            ),
        ),
    ];
    for (what, xml) in variants {
        verify(&xml).unwrap_or_else(|e| panic!("{what}: {e}"));
        let p = parse_cap(&xml, &mapping()).unwrap();
        if what != "empty-element tag" && what != "attribute quotes and spacing" {
            assert_eq!(p, original, "{what}");
        }
    }
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

#[test]
fn keys_must_be_pinned() {
    // Signed with a key whose certificate is in KeyInfo but not trusted.
    let got = verify(&signed("a3-other.xml"));
    assert!(
        matches!(got, Err(DsigError::UntrustedKey { .. })),
        "{got:?}"
    );
    assert_eq!(got.unwrap_err().code(), "signature_untrusted_key");
    // A valid signature, but the region trusts only the other key.
    let got = verify_cap_signature(&signed("a3-rsa-exc.xml"), &trust(&["ec"]));
    assert!(
        matches!(got, Err(DsigError::UntrustedKey { .. })),
        "{got:?}"
    );
    // Swapping KeyInfo's certificate for a trusted one does not help.
    let xml = signed("a3-other.xml");
    let other_b64 = pem_body(&pem("other"));
    let rsa_b64 = pem_body(&pem("rsa"));
    let text = String::from_utf8(xml).unwrap();
    let cert_in_doc = text
        .split("<ds:X509Certificate>")
        .nth(1)
        .unwrap()
        .split("</ds:X509Certificate>")
        .next()
        .unwrap();
    assert_eq!(
        cert_in_doc.split_whitespace().collect::<String>(),
        other_b64
    );
    let swapped = text.replace(cert_in_doc, &rsa_b64);
    assert!(matches!(
        verify(swapped.as_bytes()),
        Err(DsigError::Invalid { .. })
    ));
    // No certificate in KeyInfo: every trusted key of the right type is tried.
    let got = verify_cap_signature(&signed("a3-rsa-exc-nocert.xml"), &trust(&["other"]));
    assert!(matches!(got, Err(DsigError::Invalid { .. })), "{got:?}");
    let got = verify_cap_signature(&signed("a3-rsa-exc-nocert.xml"), &trust(&["ec"]));
    assert!(
        matches!(got, Err(DsigError::UntrustedKey { .. })),
        "{got:?}"
    );
}

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[test]
fn certificates_are_checked_when_configured() {
    assert!(matches!(
        TrustedCert::from_pem(&pem("rsa")).unwrap().kind(),
        KeyKind::Rsa { bits: 2048 }
    ));
    assert_eq!(
        TrustedCert::from_pem(&pem("ec")).unwrap().kind(),
        KeyKind::EcP256
    );
    assert_eq!(
        TrustedCert::from_pem(&pem("rsa1024")),
        Err(CertError::WeakKey { bits: 1024 })
    );
    assert!(matches!(
        TrustedCert::from_pem(&pem("ec-p384")),
        Err(CertError::UnsupportedKey { .. })
    ));
    let key = String::from_utf8(fixture("keys/rsa.key")).unwrap();
    assert!(matches!(
        TrustedCert::from_pem(&key),
        Err(CertError::NoPem { .. })
    ));
    let two = format!("{}{}", pem("rsa"), pem("ec"));
    assert_eq!(TrustedCert::from_pem(&two), Err(CertError::SeveralPem));
    let err = TrustStore::from_pem(&[pem("rsa"), "junk".to_string()]).unwrap_err();
    assert_eq!(err.0, 1);
    // Text around the block (as openssl x509 -text writes it) is fine.
    let noisy = format!("Certificate:\n    Data: …\n{}\ntrailing words\n", pem("ec"));
    assert!(TrustedCert::from_pem(&noisy).is_ok());
}

// ---------------------------------------------------------------------------
// Algorithms and structure
// ---------------------------------------------------------------------------

#[test]
fn weak_and_unsupported_algorithms() {
    // A genuine SHA-1 signature by a trusted key: refused anyway.
    let got = verify(&signed("a3-rsa-sha1.xml"));
    assert!(
        matches!(&got, Err(DsigError::WeakAlgorithm { element: "SignatureMethod", algorithm }) if algorithm.ends_with("#rsa-sha1")),
        "{got:?}"
    );
    let got = verify(&signed("a3-rsa-sha512.xml"));
    assert!(
        matches!(
            &got,
            Err(DsigError::UnsupportedAlgorithm {
                element: "SignatureMethod",
                ..
            })
        ),
        "{got:?}"
    );
    let a3 = signed("a3-rsa-exc.xml");
    let sha1_digest = edit(
        &a3,
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2000/09/xmldsig#sha1",
    );
    assert!(matches!(
        verify(&sha1_digest),
        Err(DsigError::WeakAlgorithm {
            element: "DigestMethod",
            ..
        })
    ));
    let hmac = edit(
        &a3,
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
    );
    assert!(matches!(
        verify(&hmac),
        Err(DsigError::UnsupportedAlgorithm { .. })
    ));
    let c14n11 = edit(
        &a3,
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2006/12/xml-c14n11\"/>",
    );
    assert!(matches!(
        verify(&c14n11),
        Err(DsigError::UnsupportedAlgorithm {
            element: "CanonicalizationMethod",
            ..
        })
    ));
    let xpath = edit(
        &a3,
        "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"/>",
    );
    assert!(matches!(
        verify(&xpath),
        Err(DsigError::UnsupportedAlgorithm {
            element: "Transform",
            ..
        })
    ));
    // Without the enveloped-signature transform the signature would sign itself.
    let no_enveloped = edit(
        &a3,
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
        "",
    );
    assert!(matches!(
        verify(&no_enveloped),
        Err(DsigError::Reference { .. })
    ));
}

#[test]
fn garbage_base64_is_malformed() {
    let a3 = signed("a3-rsa-exc.xml");
    let text = String::from_utf8(a3).unwrap();
    let value = text
        .split("<ds:SignatureValue>")
        .nth(1)
        .unwrap()
        .split("</ds:SignatureValue>")
        .next()
        .unwrap();
    for bad in ["!!not base64!!", "", "QUJ", "\u{e6}\u{f8}"] {
        let xml = text.replace(value, bad);
        let got = verify(xml.as_bytes());
        assert!(
            matches!(&got, Err(DsigError::Malformed { .. })),
            "{bad:?}: {got:?}"
        );
        assert_eq!(got.unwrap_err().code(), "signature_malformed");
    }
    let digest = text
        .split("<ds:DigestValue>")
        .nth(1)
        .unwrap()
        .split("</ds:DigestValue>")
        .next()
        .unwrap();
    for bad in ["%%%", "QUJD"] {
        assert!(matches!(
            verify(text.replace(digest, bad).as_bytes()),
            Err(DsigError::Malformed { .. })
        ));
    }
    let cert = text
        .split("<ds:X509Certificate>")
        .nth(1)
        .unwrap()
        .split("</ds:X509Certificate>")
        .next()
        .unwrap();
    assert!(matches!(
        verify(text.replace(cert, "<not>").as_bytes()),
        Err(DsigError::Malformed { .. })
    ));
    assert!(matches!(
        verify(text.replace(cert, "@@").as_bytes()),
        Err(DsigError::Malformed { .. })
    ));
    // An ECDSA value that is not 64 bytes (e.g. DER-encoded).
    let ec = String::from_utf8(signed("a3-ec-inc-comments.xml")).unwrap();
    let value = ec
        .split("<ds:SignatureValue>")
        .nth(1)
        .unwrap()
        .split("</ds:SignatureValue>")
        .next()
        .unwrap();
    assert!(matches!(
        verify(ec.replace(value, "MEUCIQ==").as_bytes()),
        Err(DsigError::Malformed { .. })
    ));
}

#[test]
fn structure_errors_are_malformed() {
    let a3 = signed("a3-rsa-exc.xml");
    let span = signature_span(&a3);
    let sig = String::from_utf8(a3[span.clone()].to_vec()).unwrap();
    let with_sig = |new_sig: &str| {
        let mut v = a3[..span.start].to_vec();
        v.extend_from_slice(new_sig.as_bytes());
        v.extend_from_slice(&a3[span.end..]);
        v
    };
    let cases = [
        sig.replace("<ds:SignatureValue>", "<ds:SignatureValue>x<ds:b/>"),
        sig.replace("ds:SignatureValue", "ds:SignatureValu"),
        sig.replace("<ds:SignedInfo>", "<ds:SignedInfo>text"),
        sig.replace(
            " Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"",
            "",
        ),
        sig.replace("<ds:KeyInfo>", "<ds:Object/><ds:KeyInfo>"),
    ];
    for (i, s) in cases.iter().enumerate() {
        let got = verify(&with_sig(s));
        assert!(
            matches!(got, Err(DsigError::Malformed { .. })),
            "case {i}: {got:?}"
        );
    }
    // Object elements at the end are allowed (and not signed).
    let got = verify(&with_sig(&sig.replace(
        "</ds:Signature>",
        "<ds:Object><x/></ds:Object></ds:Signature>",
    )));
    assert!(got.is_ok(), "{got:?}");
}

// ---------------------------------------------------------------------------
// Wrapping
// ---------------------------------------------------------------------------

#[test]
fn wrapped_or_moved_signatures_are_refused() {
    let a3 = signed("a3-rsa-exc.xml");
    let span = signature_span(&a3);
    let sig = a3[span.clone()].to_vec();
    let without: Vec<u8> = [&a3[..span.start], &a3[span.end..]].concat();

    // Moved into <info>.
    let moved = {
        let at = find(&without, "</info>").unwrap();
        [&without[..at], &sig[..], &without[at..]].concat()
    };
    assert!(matches!(verify(&moved), Err(DsigError::Misplaced { .. })));

    // The signed alert hidden inside an extension of a forged alert.
    let body = &a3[find(&a3, "<alert").unwrap()..];
    let forged = edit(
        &without,
        "<identifier>TRI13970876.2</identifier>",
        "<identifier>FORGED</identifier>",
    );
    let forged_close = find(&forged, "</alert>").unwrap();
    let mut wrapped = forged[..forged_close].to_vec();
    wrapped.extend_from_slice(b"<w:wrapper xmlns:w=\"urn:example:wrapper\">");
    wrapped.extend_from_slice(body);
    wrapped.extend_from_slice(b"</w:wrapper></alert>");
    assert!(matches!(verify(&wrapped), Err(DsigError::Misplaced { .. })));

    // The signature copied into a second, forged alert.
    let forged_signed = {
        let at = find(&forged, "</alert>").unwrap();
        [&forged[..at], &sig[..], &forged[at..]].concat()
    };
    assert_eq!(verify(&forged_signed), Err(DsigError::DigestMismatch));

    // Two signatures.
    let twice = {
        let at = find(&a3, "</alert>").unwrap();
        [&a3[..at], &sig[..], &a3[at..]].concat()
    };
    assert!(matches!(verify(&twice), Err(DsigError::Misplaced { .. })));

    // A Reference to an element by Id (signed by signxml as such).
    let got = verify(&signed("a3-rsa-id-reference.xml"));
    assert!(
        matches!(&got, Err(DsigError::Reference { reason }) if reason.contains("#alert-1")),
        "{got:?}"
    );
    assert_eq!(got.unwrap_err().code(), "signature_reference_invalid");

    // Reference URI edited, missing, or a second Reference.
    let to_id = edit(&a3, "<ds:Reference URI=\"\">", "<ds:Reference URI=\"#x\">");
    assert!(matches!(verify(&to_id), Err(DsigError::Reference { .. })));
    let no_uri = edit(&a3, "<ds:Reference URI=\"\">", "<ds:Reference>");
    assert!(matches!(verify(&no_uri), Err(DsigError::Reference { .. })));
    let text = String::from_utf8(a3.clone()).unwrap();
    let reference =
        &text[text.find("<ds:Reference").unwrap()..text.find("</ds:Reference>").unwrap() + 15];
    let two_refs = text.replace(reference, &format!("{reference}{reference}"));
    assert!(matches!(
        verify(two_refs.as_bytes()),
        Err(DsigError::Reference { .. })
    ));

    // A Signature in another namespace is no signature.
    let other_ns = edit(
        &a3,
        "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"",
        "xmlns:ds=\"urn:example:not-dsig\"",
    );
    assert_eq!(verify(&other_ns), Err(DsigError::Unsigned));
}

#[test]
fn only_cap_alerts() {
    let a3 = signed("a3-rsa-exc.xml");
    let not_cap = edit(
        &a3,
        "<alert xmlns = \"urn:oasis:names:tc:emergency:cap:1.2\">",
        "<alert xmlns = \"urn:example:not-cap\">",
    );
    assert!(matches!(verify(&not_cap), Err(DsigError::Malformed { .. })));
    for junk in [&b""[..], b"<", b"<alert/>", b"\xff\xfe<\x00"] {
        assert!(verify(junk).is_err());
    }
}

// ---------------------------------------------------------------------------
// Never panics; never accepts a changed meaning
// ---------------------------------------------------------------------------

fn parse(xml: &[u8]) -> Option<ParsedCap> {
    parse_cap(xml, &mapping()).ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn verification_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = verify(&bytes);
    }

    /// Whatever a mutation does, if the signature still verifies, the CAP
    /// parser reads exactly the alert that was signed.
    #[test]
    fn mutations_that_verify_do_not_change_the_alert(
        which in 0usize..VALID.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
    ) {
        let original = signed(VALID[which].0);
        let input = mutate(&original, &edits);
        if verify(&input).is_ok() {
            prop_assert_eq!(parse(&input), parse(&original));
        }
    }
}
