//! XML Signature (XML-DSig) verification of CAP alerts.
//!
//! [`verify_cap_signature`] checks one enveloped signature over a whole CAP
//! document against a region's pinned certificates ([`TrustStore`]). What is
//! accepted, and nothing else:
//!
//! - exactly one `ds:Signature` element (namespace
//!   `http://www.w3.org/2000/09/xmldsig#`) in the whole document, a direct
//!   child of the root CAP `alert`;
//! - `SignedInfo` with `CanonicalizationMethod` exclusive C14N
//!   (`http://www.w3.org/2001/10/xml-exc-c14n#`, optionally
//!   `#WithComments`, optionally with an `InclusiveNamespaces PrefixList`) or
//!   inclusive C14N 1.0 (`http://www.w3.org/TR/2001/REC-xml-c14n-20010315`,
//!   optionally `#WithComments`);
//! - `SignatureMethod` rsa-sha256 or ecdsa-sha256
//!   (`http://www.w3.org/2001/04/xmldsig-more#…`); SHA-1 and MD5 methods are
//!   refused as too weak, anything else as unsupported;
//! - exactly one `Reference`, with `URI=""` (the document that carries the
//!   signature), transforms enveloped-signature and then optionally one of
//!   the C14N methods above (without one, inclusive C14N 1.0 applies, as the
//!   XML-DSig specification says), and `DigestMethod` sha256
//!   (`http://www.w3.org/2001/04/xmlenc#sha256`);
//! - the key: every `KeyInfo/X509Data/X509Certificate` is compared byte for
//!   byte with the trusted certificates; the signature must verify with a
//!   trusted one that appears there. When `KeyInfo` carries no certificate,
//!   each trusted certificate's key (of the right type) is tried. Nothing is
//!   ever fetched (`RetrievalMethod`, URLs): other `KeyInfo` content is ignored.
//!
//! # Comments
//! A same-document reference `URI=""` selects the document *without its
//! comments* (XML-DSig §4.4.3.3), so comments never count for the digest,
//! whatever the transform says; `#WithComments` only matters for
//! `SignedInfo` itself. (Some libraries, e.g. signxml, include comments in
//! that case; they disagree with the specification and with firstlink on
//! alerts that carry comments.)
//!
//! # Wrapping
//! The signed bytes are the bytes that are parsed: the signature covers the
//! whole document, a reference to anything else is refused, so is a second
//! `Signature` or one that is not a child of the root. As a last check the
//! element tree that [`crate::parse_cap`] builds from the same bytes is
//! compared with the verified tree, so the two parsers cannot disagree on what
//! was signed.

mod c14n;
mod doc;
mod keys;

use ring::digest;

pub use c14n::C14nMethod;
pub use keys::{
    CERT_PEM_MAX_BYTES, CertError, KeyKind, SignatureMethod, TRUST_MAX_CERTIFICATES, TrustStore,
    TrustedCert,
};

use crate::text::truncated;
use crate::xml::{self, XmlError};
use doc::{Doc, Node};

pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N_NS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const ECHO: usize = 100;
/// Most `X509Certificate`s looked at in one `KeyInfo`.
const MAX_KEYINFO_CERTS: usize = 16;
/// Most entries in one `InclusiveNamespaces PrefixList`.
const MAX_PREFIXES: usize = 64;

/// Why a signature was not accepted. [`DsigError::code`] is the stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsigError {
    #[error("the alert has no XML signature (ds:Signature)")]
    Unsigned,
    #[error("no trusted certificates are configured, so no signature can be verified")]
    NoTrustedCertificates,
    #[error("malformed signature: {reason}")]
    Malformed { reason: String },
    #[error("signature in the wrong place: {reason}")]
    Misplaced { reason: String },
    #[error("the signature must cover the whole alert: {reason}")]
    Reference { reason: String },
    #[error(
        "{element} algorithm {algorithm:?} is too weak (SHA-1/MD5); sign with rsa-sha256 or ecdsa-sha256 and sha256"
    )]
    WeakAlgorithm {
        element: &'static str,
        algorithm: String,
    },
    #[error("{element} algorithm {algorithm:?} is not supported")]
    UnsupportedAlgorithm {
        element: &'static str,
        algorithm: String,
    },
    #[error("{reason}")]
    UntrustedKey { reason: String },
    #[error("the digest does not match: the alert was changed after it was signed")]
    DigestMismatch,
    #[error("the signature value does not verify: {reason}")]
    Invalid { reason: String },
}

impl DsigError {
    /// The stable error code (see docs/api-errors.md).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unsigned => "signature_required",
            Self::NoTrustedCertificates => "signature_unverifiable",
            Self::Malformed { .. } => "signature_malformed",
            Self::Misplaced { .. } => "signature_misplaced",
            Self::Reference { .. } => "signature_reference_invalid",
            Self::WeakAlgorithm { .. } => "signature_weak_algorithm",
            Self::UnsupportedAlgorithm { .. } => "signature_unsupported_algorithm",
            Self::UntrustedKey { .. } => "signature_untrusted_key",
            Self::DigestMismatch => "signature_digest_mismatch",
            Self::Invalid { .. } => "signature_invalid",
        }
    }
}

fn malformed(reason: impl Into<String>) -> DsigError {
    DsigError::Malformed {
        reason: reason.into(),
    }
}

/// What a verified signature was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// Index of the trusted certificate whose key verified it.
    pub certificate: usize,
    /// That certificate's subject.
    pub subject: String,
    pub method: SignatureMethod,
    pub canonicalization: C14nMethod,
}

/// Verifies the enveloped XML signature of the CAP document `xml` (see the
/// module documentation for what is accepted).
///
/// [`DsigError::Unsigned`] means there is no `ds:Signature` at all; whether
/// that is acceptable is the caller's policy. Call [`crate::parse_cap`] on the
/// very same bytes.
pub fn verify_cap_signature(
    xml: &[u8],
    trust: &TrustStore,
) -> Result<VerifiedSignature, DsigError> {
    let doc = doc::parse(xml, crate::cap::LIMITS).map_err(|e| malformed(xml_reason(&e)))?;
    let root = &doc.elems[doc.root];
    let cap_ns = root
        .ns
        .as_deref()
        .filter(|ns| ns.starts_with("urn:oasis:names:tc:emergency:cap:"));
    if root.local != "alert" || cap_ns.is_none() {
        return Err(malformed("the document is not a CAP alert"));
    }

    // Exactly one Signature, a child of the alert.
    let signatures: Vec<usize> = doc
        .descendants(doc.root)
        .into_iter()
        .filter(|&id| doc.elems[id].is(DSIG_NS, "Signature"))
        .collect();
    let sig_id = match signatures.as_slice() {
        [] => return Err(DsigError::Unsigned),
        [one] => *one,
        more => {
            return Err(DsigError::Misplaced {
                reason: format!(
                    "the document has {} Signature elements; exactly one is allowed",
                    more.len()
                ),
            });
        }
    };
    if doc.elems[sig_id].parent != Some(doc.root) {
        return Err(DsigError::Misplaced {
            reason: "the Signature must be a direct child of the alert".into(),
        });
    }
    if trust.is_empty() {
        return Err(DsigError::NoTrustedCertificates);
    }

    let sig = read_signature(&doc, sig_id)?;

    // The key: pinned certificates only.
    let candidates: Vec<usize> = if sig.certificates.is_empty() {
        let fitting: Vec<usize> = trust
            .certificates()
            .iter()
            .enumerate()
            .filter(|(_, c)| sig.method.fits(c.kind()))
            .map(|(i, _)| i)
            .collect();
        if fitting.is_empty() {
            return Err(DsigError::UntrustedKey {
                reason: format!(
                    "KeyInfo carries no certificate, and no trusted certificate has a key for {}",
                    sig.method.name()
                ),
            });
        }
        fitting
    } else {
        let pinned: Vec<usize> = trust
            .certificates()
            .iter()
            .enumerate()
            .filter(|(_, c)| sig.certificates.iter().any(|k| k.as_slice() == c.der()))
            .map(|(i, _)| i)
            .collect();
        if pinned.is_empty() {
            return Err(DsigError::UntrustedKey {
                reason:
                    "the certificate in KeyInfo is not one of the region's trusted certificates"
                        .into(),
            });
        }
        pinned
    };

    // Reference: the document without the signature and without comments.
    let canonical = c14n::document(&doc, &sig.reference_c14n.without_comments(), Some(sig_id));
    let digest = digest::digest(&digest::SHA256, &canonical);
    if digest.as_ref() != sig.digest.as_slice() {
        return Err(DsigError::DigestMismatch);
    }

    // SignedInfo, canonicalized in place.
    let signed_info = c14n::subtree(&doc, sig.signed_info, &sig.c14n);
    let verified_by = candidates
        .iter()
        .copied()
        .find(|&i| trust.certificates()[i].verifies(sig.method, &signed_info, &sig.value));
    let Some(index) = verified_by else {
        let reason = if sig.certificates.is_empty() {
            format!(
                "KeyInfo carries no certificate and none of the {} trusted key(s) for {} verifies it",
                candidates.len(),
                sig.method.name()
            )
        } else {
            let kinds: Vec<String> = candidates
                .iter()
                .map(|&i| trust.certificates()[i].kind().to_string())
                .collect();
            format!(
                "{} with the trusted certificate's key ({})",
                sig.method.name(),
                kinds.join(", ")
            )
        };
        return Err(DsigError::Invalid { reason });
    };

    same_tree_as_cap_parser(xml, &doc)?;

    Ok(VerifiedSignature {
        certificate: index,
        subject: trust.certificates()[index].subject().to_owned(),
        method: sig.method,
        canonicalization: sig.c14n,
    })
}

/// Canonicalizes a whole document (no element excluded) with `method`: the
/// bytes a signer hashes for `URI=""` without the enveloped signature
/// transform. For diagnostics and tests.
pub fn canonicalize(xml: &[u8], method: &C14nMethod) -> Result<Vec<u8>, DsigError> {
    let doc = doc::parse(xml, crate::cap::LIMITS).map_err(|e| malformed(xml_reason(&e)))?;
    Ok(c14n::document(&doc, method, None))
}

/// Canonicalizes the subtree of the first element (in document order) named
/// `local` in namespace `ns` (None: no namespace), in the context of its
/// ancestors, as is done for `SignedInfo`. For diagnostics and tests.
pub fn canonicalize_element(
    xml: &[u8],
    method: &C14nMethod,
    ns: Option<&str>,
    local: &str,
) -> Result<Option<Vec<u8>>, DsigError> {
    let doc = doc::parse(xml, crate::cap::LIMITS).map_err(|e| malformed(xml_reason(&e)))?;
    Ok(doc
        .descendants(doc.root)
        .into_iter()
        .find(|&id| doc.elems[id].ns.as_deref() == ns && doc.elems[id].local == local)
        .map(|id| c14n::subtree(&doc, id, method)))
}

fn xml_reason(e: &XmlError) -> String {
    format!("the document is not acceptable XML: {e}")
}

// ---------------------------------------------------------------------------
// Reading the Signature element
// ---------------------------------------------------------------------------

struct Signature {
    signed_info: usize,
    c14n: C14nMethod,
    method: SignatureMethod,
    reference_c14n: C14nMethod,
    digest: Vec<u8>,
    value: Vec<u8>,
    certificates: Vec<Vec<u8>>,
}

/// The element children of `id`, refusing text other than whitespace.
fn element_children(doc: &Doc, id: usize) -> Result<Vec<usize>, DsigError> {
    let e = &doc.elems[id];
    let mut out = Vec::new();
    for node in &e.children {
        match node {
            Node::Elem(c) => out.push(*c),
            Node::Text(t) if t.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) => {}
            Node::Text(_) => {
                return Err(malformed(format!(
                    "text inside <{}>",
                    truncated(&e.local, ECHO)
                )));
            }
            Node::Comment(_) | Node::Pi { .. } => {}
        }
    }
    Ok(out)
}

/// The text of a leaf element.
fn text_of(doc: &Doc, id: usize) -> Result<String, DsigError> {
    let e = &doc.elems[id];
    let mut out = String::new();
    for node in &e.children {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Elem(_) => {
                return Err(malformed(format!(
                    "<{}> must contain text only",
                    truncated(&e.local, ECHO)
                )));
            }
            Node::Comment(_) | Node::Pi { .. } => {}
        }
    }
    Ok(out)
}

/// Checks that `children` are the DSig elements `names` in order, each
/// marked required (`true`) or optional; returns their ids (None when
/// an optional one is absent).
fn sequence(
    doc: &Doc,
    parent: &str,
    children: &[usize],
    names: &[(&str, bool)],
) -> Result<Vec<Option<usize>>, DsigError> {
    let mut out = Vec::with_capacity(names.len());
    let mut it = children.iter().copied().peekable();
    for &(name, required) in names {
        match it.peek() {
            Some(&c) if doc.elems[c].is(DSIG_NS, name) => {
                out.push(Some(c));
                it.next();
            }
            _ if required => {
                return Err(malformed(format!("<{parent}> lacks <{name}>")));
            }
            _ => out.push(None),
        }
    }
    if let Some(extra) = it.next() {
        let e = &doc.elems[extra];
        return Err(malformed(format!(
            "unexpected <{}> in <{parent}>",
            truncated(&e.local, ECHO)
        )));
    }
    Ok(out)
}

fn algorithm<'d>(doc: &'d Doc, id: usize, element: &'static str) -> Result<&'d str, DsigError> {
    doc.elems[id]
        .attr("Algorithm")
        .ok_or_else(|| malformed(format!("<{element}> has no Algorithm")))
}

/// SHA-1 and MD5 based methods (broken collision resistance).
fn is_weak(uri: &str) -> bool {
    let lower = uri.to_ascii_lowercase();
    let fragment = lower.rsplit(['#', '/']).next().unwrap_or("");
    fragment.contains("sha1") || fragment.contains("md5")
}

fn read_signature(doc: &Doc, sig_id: usize) -> Result<Signature, DsigError> {
    let kids = element_children(doc, sig_id)?;
    // Object elements may follow KeyInfo; they are not signed here and not read.
    let objects = kids
        .iter()
        .rposition(|&c| !doc.elems[c].is(DSIG_NS, "Object"))
        .map_or(0, |last| last + 1);
    let [Some(signed_info), Some(value_el), key_info] = sequence(
        doc,
        "Signature",
        &kids[..objects],
        &[
            ("SignedInfo", true),
            ("SignatureValue", true),
            ("KeyInfo", false),
        ],
    )?[..] else {
        return Err(malformed(
            "<Signature> lacks <SignedInfo> or <SignatureValue>",
        ));
    };

    let si_kids = element_children(doc, signed_info)?;
    let references = si_kids
        .iter()
        .filter(|&&c| doc.elems[c].is(DSIG_NS, "Reference"))
        .count();
    let first_ref = si_kids
        .iter()
        .position(|&c| doc.elems[c].is(DSIG_NS, "Reference"))
        .unwrap_or(si_kids.len());
    let [Some(c14n_el), Some(method_el)] = sequence(
        doc,
        "SignedInfo",
        &si_kids[..first_ref],
        &[("CanonicalizationMethod", true), ("SignatureMethod", true)],
    )?[..] else {
        return Err(malformed("<SignedInfo> lacks its methods"));
    };
    if si_kids[first_ref..]
        .iter()
        .any(|&c| !doc.elems[c].is(DSIG_NS, "Reference"))
    {
        return Err(malformed(
            "unexpected element after <Reference> in <SignedInfo>",
        ));
    }

    // Algorithms first: a weak or unknown one is the clearest answer.
    let method_uri = algorithm(doc, method_el, "SignatureMethod")?;
    let method = match method_uri {
        SignatureMethod::RSA_SHA256 => SignatureMethod::RsaSha256,
        SignatureMethod::ECDSA_SHA256 => SignatureMethod::EcdsaSha256,
        other if is_weak(other) => {
            return Err(DsigError::WeakAlgorithm {
                element: "SignatureMethod",
                algorithm: truncated(other, ECHO),
            });
        }
        other => {
            return Err(DsigError::UnsupportedAlgorithm {
                element: "SignatureMethod",
                algorithm: truncated(other, ECHO),
            });
        }
    };
    if !element_children(doc, method_el)?.is_empty() {
        return Err(malformed("<SignatureMethod> must be empty"));
    }
    let c14n = c14n_method(doc, c14n_el, "CanonicalizationMethod")?;

    if references != 1 {
        return Err(DsigError::Reference {
            reason: format!("exactly one Reference is allowed, found {references}"),
        });
    }
    let reference = si_kids[first_ref];
    let r = &doc.elems[reference];
    let ref_kids = element_children(doc, reference)?;
    let [transforms, Some(digest_method), Some(digest_value)] = sequence(
        doc,
        "Reference",
        &ref_kids,
        &[
            ("Transforms", false),
            ("DigestMethod", true),
            ("DigestValue", true),
        ],
    )?[..] else {
        return Err(malformed(
            "<Reference> lacks <DigestMethod> or <DigestValue>",
        ));
    };
    let digest_uri = algorithm(doc, digest_method, "DigestMethod")?;
    if digest_uri != SHA256 {
        return Err(if is_weak(digest_uri) {
            DsigError::WeakAlgorithm {
                element: "DigestMethod",
                algorithm: truncated(digest_uri, ECHO),
            }
        } else {
            DsigError::UnsupportedAlgorithm {
                element: "DigestMethod",
                algorithm: truncated(digest_uri, ECHO),
            }
        });
    }
    let reference_c14n = reference_transforms(doc, transforms)?;
    match r.attr("URI") {
        Some("") => {}
        Some(uri) => {
            return Err(DsigError::Reference {
                reason: format!(
                    "the Reference must have URI=\"\" (the whole alert), not {:?}",
                    truncated(uri, ECHO)
                ),
            });
        }
        None => {
            return Err(DsigError::Reference {
                reason: "the Reference has no URI; it must have URI=\"\" (the whole alert)".into(),
            });
        }
    }

    let digest = xml_base64_of(doc, digest_value, "DigestValue")?;
    if digest.len() != 32 {
        return Err(malformed(
            "<DigestValue> is not a SHA-256 digest (32 bytes)",
        ));
    }
    let value = xml_base64_of(doc, value_el, "SignatureValue")?;
    if value.is_empty() || value.len() > 1024 {
        return Err(malformed("<SignatureValue> has an impossible length"));
    }
    if method == SignatureMethod::EcdsaSha256 && value.len() != 64 {
        return Err(malformed(
            "an ecdsa-sha256 (P-256) SignatureValue must be r||s, 64 bytes",
        ));
    }
    let certificates = match key_info {
        None => Vec::new(),
        Some(k) => key_info_certificates(doc, k)?,
    };
    Ok(Signature {
        signed_info,
        c14n,
        method,
        reference_c14n,
        digest,
        value,
        certificates,
    })
}

fn xml_base64_of(doc: &Doc, id: usize, element: &str) -> Result<Vec<u8>, DsigError> {
    let text = text_of(doc, id)?;
    keys::xml_base64(&text).ok_or_else(|| malformed(format!("<{element}> is not valid base64")))
}

/// A canonicalization algorithm element (CanonicalizationMethod or
/// Transform) and its optional `InclusiveNamespaces`.
fn c14n_method(doc: &Doc, id: usize, element: &'static str) -> Result<C14nMethod, DsigError> {
    let uri = algorithm(doc, id, element)?;
    let Some(mut method) = C14nMethod::from_uri(uri) else {
        return Err(DsigError::UnsupportedAlgorithm {
            element,
            algorithm: truncated(uri, ECHO),
        });
    };
    let kids = element_children(doc, id)?;
    match (&mut method, kids.as_slice()) {
        (_, []) => {}
        (C14nMethod::Exclusive { prefixes, .. }, [one])
            if doc.elems[*one].is(EXC_C14N_NS, "InclusiveNamespaces") =>
        {
            let list = doc.elems[*one].attr("PrefixList").unwrap_or("");
            *prefixes = list.split_whitespace().map(str::to_owned).collect();
            if prefixes.len() > MAX_PREFIXES {
                return Err(malformed("PrefixList is too long"));
            }
        }
        _ => return Err(malformed(format!("unexpected content in <{element}>"))),
    }
    Ok(method)
}

/// The reference's transforms: enveloped-signature, then optionally one
/// canonicalization; returns the canonicalization that applies.
fn reference_transforms(doc: &Doc, transforms: Option<usize>) -> Result<C14nMethod, DsigError> {
    let list = match transforms {
        None => Vec::new(),
        Some(t) => element_children(doc, t)?,
    };
    for &t in &list {
        if !doc.elems[t].is(DSIG_NS, "Transform") {
            return Err(malformed("<Transforms> may only contain <Transform>"));
        }
        let uri = algorithm(doc, t, "Transform")?;
        if uri != ENVELOPED && C14nMethod::from_uri(uri).is_none() {
            return Err(DsigError::UnsupportedAlgorithm {
                element: "Transform",
                algorithm: truncated(uri, ECHO),
            });
        }
    }
    let uris: Vec<&str> = list
        .iter()
        .map(|&t| doc.elems[t].attr("Algorithm").unwrap_or(""))
        .collect();
    match uris.as_slice() {
        [ENVELOPED] => {
            if !element_children(doc, list[0])?.is_empty() {
                return Err(malformed("unexpected content in the enveloped-signature <Transform>"));
            }
            // XML-DSig §4.4.3.2: a node-set becomes octets with C14N 1.0.
            Ok(C14nMethod::Inclusive { comments: false })
        }
        [ENVELOPED, _] => {
            if !element_children(doc, list[0])?.is_empty() {
                return Err(malformed("unexpected content in the enveloped-signature <Transform>"));
            }
            c14n_method(doc, list[1], "Transform")
        }
        _ => Err(DsigError::Reference {
            reason: "the transforms must be enveloped-signature, optionally followed by one canonicalization".into(),
        }),
    }
}

fn key_info_certificates(doc: &Doc, key_info: usize) -> Result<Vec<Vec<u8>>, DsigError> {
    let mut out = Vec::new();
    for data in element_children(doc, key_info)? {
        if !doc.elems[data].is(DSIG_NS, "X509Data") {
            continue;
        }
        for c in element_children(doc, data)? {
            if !doc.elems[c].is(DSIG_NS, "X509Certificate") {
                continue;
            }
            if out.len() >= MAX_KEYINFO_CERTS {
                return Err(malformed("too many certificates in KeyInfo"));
            }
            out.push(xml_base64_of(doc, c, "X509Certificate")?);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// The CAP parser must see what was verified
// ---------------------------------------------------------------------------

/// Compares the tree [`crate::xml::parse`] builds from `xml` (what
/// [`crate::parse_cap`] reads) with the verified tree: same elements,
/// namespaces, names and text, in the same order.
fn same_tree_as_cap_parser(xml: &[u8], doc: &Doc) -> Result<(), DsigError> {
    let theirs = xml::parse(xml, crate::cap::LIMITS).map_err(|e| malformed(xml_reason(&e)))?;
    if same(&theirs, doc, doc.root) {
        Ok(())
    } else {
        Err(malformed(
            "the CAP parser reads this document differently from the signature check",
        ))
    }
}

fn same(theirs: &xml::Element, doc: &Doc, id: usize) -> bool {
    let e = &doc.elems[id];
    let text: String = e
        .children
        .iter()
        .filter_map(|n| match n {
            Node::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let kids: Vec<usize> = e.child_elems().collect();
    theirs.ns == e.ns
        && theirs.name == e.local
        && theirs.text == text
        && theirs.children.len() == kids.len()
        && theirs
            .children
            .iter()
            .zip(kids)
            .all(|(t, k)| same(t, doc, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_algorithms_are_recognized() {
        for uri in [
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
            "http://www.w3.org/2001/04/xmldsig-more#rsa-md5",
            "http://www.w3.org/2000/09/xmldsig#sha1",
            "http://www.w3.org/2001/04/xmldsig-more#md5",
        ] {
            assert!(is_weak(uri), "{uri}");
        }
        for uri in [
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            "http://www.w3.org/2001/04/xmlenc#sha512",
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
        ] {
            assert!(!is_weak(uri), "{uri}");
        }
    }

    #[test]
    fn a_tree_the_cap_parser_reads_differently_is_refused() {
        let wrap = |inner: &str| {
            format!("<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'>{inner}</alert>")
        };
        let verified =
            doc::parse(wrap("<a>x<!--c-->y</a>").as_bytes(), crate::cap::LIMITS).unwrap();
        assert!(
            same_tree_as_cap_parser(wrap("<a>x<![CDATA[y]]></a>").as_bytes(), &verified).is_ok()
        );
        for other in [
            "<a>xz</a>",
            "<b>xy</b>",
            "<a xmlns='urn:o'>xy</a>",
            "<a>xy</a><a/>",
            "<a>x<c/>y</a>",
        ] {
            assert!(
                matches!(
                    same_tree_as_cap_parser(wrap(other).as_bytes(), &verified),
                    Err(DsigError::Malformed { .. })
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(
            DsigError::DigestMismatch.code(),
            "signature_digest_mismatch"
        );
        assert_eq!(DsigError::Unsigned.code(), "signature_required");
        assert_eq!(
            DsigError::NoTrustedCertificates.code(),
            "signature_unverifiable"
        );
    }
}
