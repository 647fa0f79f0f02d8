//! Canonical XML 1.0 (inclusive, <https://www.w3.org/TR/2001/REC-xml-c14n-20010315>)
//! and Exclusive XML Canonicalization 1.0
//! (<https://www.w3.org/TR/2002/REC-xml-exc-c14n-20020718/>), with and without
//! comments, over a [`Doc`].
//!
//! Only the two document subsets XML-DSig needs here are supported:
//! - the whole document, optionally minus one element's subtree (the
//!   enveloped-signature transform), and
//! - one element's subtree (SignedInfo), canonicalized in its context: its
//!   ancestors' namespace declarations are in scope and, for inclusive C14N,
//!   their `xml:*` attributes are inherited onto it (C14N 1.0 §2.4).
//!
//! # Output rules (both methods)
//! UTF-8; no XML declaration; empty elements as start–end pairs; CDATA
//! sections as escaped text; text escapes `&` `<` `>` and CR (`&#xD;`);
//! attribute values are double-quoted and escape `&` `<` `"` TAB LF CR;
//! namespace declarations first, sorted by prefix (the default namespace
//! first), then attributes sorted by namespace URI (none first) and local
//! name; comments and processing instructions outside the document element
//! are separated from it by line feeds.
//!
//! # Namespace declarations
//! "Rendered" below means written on the nearest output ancestor.
//! - Inclusive: every namespace in scope whose value differs from the one
//!   rendered, and `xmlns=""` when the element has no default namespace but a
//!   non-empty one is rendered.
//! - Exclusive: only namespaces *visibly utilized* by the element (its own
//!   prefix or the default namespace when it has none, and its attributes'
//!   prefixes), plus the prefixes of the `InclusiveNamespaces PrefixList`,
//!   which follow the inclusive rule. `xml:*` attributes are never inherited.

use super::doc::{Doc, Elem, Node, XML_NS};

/// A canonicalization algorithm with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum C14nMethod {
    /// Canonical XML 1.0.
    Inclusive { comments: bool },
    /// Exclusive XML Canonicalization 1.0; `prefixes` is the
    /// `InclusiveNamespaces PrefixList` (`#default` for the default namespace).
    Exclusive {
        comments: bool,
        prefixes: Vec<String>,
    },
}

impl C14nMethod {
    pub const INCLUSIVE: &'static str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
    pub const INCLUSIVE_WITH_COMMENTS: &'static str =
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
    pub const EXCLUSIVE: &'static str = "http://www.w3.org/2001/10/xml-exc-c14n#";
    pub const EXCLUSIVE_WITH_COMMENTS: &'static str =
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

    /// The method an algorithm URI names (without a PrefixList), if supported.
    pub fn from_uri(uri: &str) -> Option<Self> {
        Some(match uri {
            Self::INCLUSIVE => Self::Inclusive { comments: false },
            Self::INCLUSIVE_WITH_COMMENTS => Self::Inclusive { comments: true },
            Self::EXCLUSIVE => Self::Exclusive {
                comments: false,
                prefixes: Vec::new(),
            },
            Self::EXCLUSIVE_WITH_COMMENTS => Self::Exclusive {
                comments: true,
                prefixes: Vec::new(),
            },
            _ => return None,
        })
    }

    pub fn comments(&self) -> bool {
        match self {
            Self::Inclusive { comments } | Self::Exclusive { comments, .. } => *comments,
        }
    }

    /// The same method, without comments (what a same-document reference
    /// `URI=""` gets, whatever its transform says).
    pub(crate) fn without_comments(&self) -> Self {
        match self {
            Self::Inclusive { .. } => Self::Inclusive { comments: false },
            Self::Exclusive { prefixes, .. } => Self::Exclusive {
                comments: false,
                prefixes: prefixes.clone(),
            },
        }
    }

    /// A short name for messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Inclusive { comments: false } => "c14n",
            Self::Inclusive { comments: true } => "c14n#WithComments",
            Self::Exclusive {
                comments: false, ..
            } => "exc-c14n",
            Self::Exclusive { comments: true, .. } => "exc-c14n#WithComments",
        }
    }
}

/// The whole document, without the subtree of `exclude` (if any).
pub(crate) fn document(doc: &Doc, method: &C14nMethod, exclude: Option<usize>) -> Vec<u8> {
    let mut c = Canon::new(doc, method, exclude);
    for node in &doc.prolog {
        if c.misc(node) {
            c.out.push(b'\n');
        }
    }
    c.element(doc.root, true);
    for node in &doc.epilog {
        let at = c.out.len();
        c.out.push(b'\n');
        if !c.misc(node) {
            c.out.truncate(at);
        }
    }
    c.out
}

/// The subtree of `apex`, in the context of its ancestors.
pub(crate) fn subtree(doc: &Doc, apex: usize, method: &C14nMethod) -> Vec<u8> {
    let mut c = Canon::new(doc, method, None);
    // Ancestors' declarations, outermost first, are in scope at the apex.
    let mut chain = Vec::new();
    let mut at = doc.elems[apex].parent;
    while let Some(id) = at {
        chain.push(id);
        at = doc.elems[id].parent;
    }
    for &id in chain.iter().rev() {
        c.scope.extend(doc.elems[id].decls.iter().cloned());
    }
    c.ancestors = chain;
    c.element(apex, true);
    c.out
}

struct Canon<'d> {
    doc: &'d Doc,
    method: &'d C14nMethod,
    exclude: Option<usize>,
    out: Vec<u8>,
    /// Namespace bindings in scope (innermost last).
    scope: Vec<(String, String)>,
    /// Namespace declarations rendered on output ancestors (innermost last).
    rendered: Vec<(String, String)>,
    /// Ancestors of the apex of a subtree, nearest first.
    ancestors: Vec<usize>,
}

impl<'d> Canon<'d> {
    fn new(doc: &'d Doc, method: &'d C14nMethod, exclude: Option<usize>) -> Self {
        Self {
            doc,
            method,
            exclude,
            out: Vec::new(),
            scope: Vec::new(),
            rendered: Vec::new(),
            ancestors: Vec::new(),
        }
    }

    /// Writes a comment or PI; false when nothing was written.
    fn misc(&mut self, node: &Node) -> bool {
        match node {
            Node::Comment(c) if self.method.comments() => {
                self.out.extend_from_slice(b"<!--");
                self.out.extend_from_slice(c.as_bytes());
                self.out.extend_from_slice(b"-->");
                true
            }
            Node::Pi { target, data } => {
                self.out.extend_from_slice(b"<?");
                self.out.extend_from_slice(target.as_bytes());
                if !data.is_empty() {
                    self.out.push(b' ');
                    self.out.extend_from_slice(data.as_bytes());
                }
                self.out.extend_from_slice(b"?>");
                true
            }
            _ => false,
        }
    }

    fn in_scope(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        self.scope
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
            .filter(|u| !u.is_empty())
    }

    fn rendered(&self, prefix: &str) -> Option<&str> {
        self.rendered
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
            .filter(|u| !u.is_empty())
    }

    /// Whether the binding `prefix` → `value` (None: no default namespace)
    /// must be declared on the current element.
    fn needs_declaration(&self, prefix: &str, value: Option<&str>) -> bool {
        if prefix == "xml" {
            return false;
        }
        match value {
            // Only the default namespace can be absent: `xmlns=""` is needed
            // when a non-empty default is rendered above.
            None => self.rendered(prefix).is_some(),
            Some(v) => self.rendered(prefix) != Some(v),
        }
    }

    fn element(&mut self, id: usize, apex: bool) {
        if Some(id) == self.exclude {
            return;
        }
        let doc = self.doc;
        let e: &Elem = &doc.elems[id];
        let scope_mark = self.scope.len();
        self.scope.extend(e.decls.iter().cloned());

        // Namespace declarations to write: (prefix, uri), uri "" = xmlns="".
        let mut decls: Vec<(String, String)> = Vec::new();
        let consider = |this: &Self, prefix: &str, decls: &mut Vec<(String, String)>| {
            if decls.iter().any(|(p, _)| p == prefix) {
                return;
            }
            let value = this.in_scope(prefix);
            // A named prefix is never unbound in XML 1.0; only the default
            // namespace can be absent.
            if value.is_none() && !prefix.is_empty() {
                return;
            }
            if this.needs_declaration(prefix, value) {
                decls.push((prefix.to_owned(), value.unwrap_or_default().to_owned()));
            }
        };
        match self.method {
            C14nMethod::Inclusive { .. } => {
                if apex {
                    // Everything in scope (the apex has no output ancestor).
                    for (p, _) in self.scope.iter().rev() {
                        consider(self, p, &mut decls);
                    }
                } else {
                    // Below the apex, the scope only differs from what the
                    // parent rendered by this element's own declarations.
                    for (p, _) in &e.decls {
                        consider(self, p, &mut decls);
                    }
                }
            }
            C14nMethod::Exclusive { prefixes, .. } => {
                consider(self, e.prefix.as_deref().unwrap_or(""), &mut decls);
                for a in &e.attrs {
                    if let Some(p) = a.prefix.as_deref() {
                        consider(self, p, &mut decls);
                    }
                }
                // The PrefixList follows the inclusive rule.
                for p in prefixes {
                    consider(self, if p == "#default" { "" } else { p }, &mut decls);
                }
            }
        }
        decls.sort_by(|a, b| a.0.cmp(&b.0));

        // Attributes, plus xml:* inherited onto the apex of an inclusive subset.
        let mut attrs: Vec<(Option<&str>, &str, &str, &str)> = e
            .attrs
            .iter()
            .map(|a| {
                (
                    a.ns.as_deref(),
                    a.prefix.as_deref().unwrap_or(""),
                    a.local.as_str(),
                    a.value.as_str(),
                )
            })
            .collect();
        if apex && matches!(self.method, C14nMethod::Inclusive { .. }) {
            for &anc in &self.ancestors {
                for a in &doc.elems[anc].attrs {
                    if a.ns.as_deref() == Some(XML_NS)
                        && !attrs
                            .iter()
                            .any(|(ns, _, l, _)| *ns == Some(XML_NS) && *l == a.local)
                    {
                        attrs.push((Some(XML_NS), "xml", a.local.as_str(), a.value.as_str()));
                    }
                }
            }
        }
        attrs.sort_by(|a, b| (a.0.unwrap_or(""), a.2).cmp(&(b.0.unwrap_or(""), b.2)));

        self.out.push(b'<');
        self.qname(e.prefix.as_deref(), &e.local);
        for (p, uri) in &decls {
            if p.is_empty() {
                self.out.extend_from_slice(b" xmlns=\"");
            } else {
                self.out.extend_from_slice(b" xmlns:");
                self.out.extend_from_slice(p.as_bytes());
                self.out.extend_from_slice(b"=\"");
            }
            escape_attr(&mut self.out, uri);
            self.out.push(b'"');
        }
        for (_, prefix, local, value) in &attrs {
            self.out.push(b' ');
            self.qname((!prefix.is_empty()).then_some(*prefix), local);
            self.out.extend_from_slice(b"=\"");
            escape_attr(&mut self.out, value);
            self.out.push(b'"');
        }
        self.out.push(b'>');

        let rendered_mark = self.rendered.len();
        self.rendered.extend(decls);
        for node in &e.children {
            match node {
                Node::Elem(child) => self.element(*child, false),
                Node::Text(t) => escape_text(&mut self.out, t),
                other => {
                    self.misc(other);
                }
            }
        }
        self.rendered.truncate(rendered_mark);
        self.scope.truncate(scope_mark);

        self.out.extend_from_slice(b"</");
        self.qname(e.prefix.as_deref(), &e.local);
        self.out.push(b'>');
    }

    fn qname(&mut self, prefix: Option<&str>, local: &str) {
        if let Some(p) = prefix {
            self.out.extend_from_slice(p.as_bytes());
            self.out.push(b':');
        }
        self.out.extend_from_slice(local.as_bytes());
    }
}

fn escape_text(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '\r' => out.extend_from_slice(b"&#xD;"),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

fn escape_attr(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\t' => out.extend_from_slice(b"&#x9;"),
            '\n' => out.extend_from_slice(b"&#xA;"),
            '\r' => out.extend_from_slice(b"&#xD;"),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsig::doc;
    use crate::xml::XmlLimits;

    const LIMITS: XmlLimits = XmlLimits {
        max_bytes: 1 << 16,
        max_depth: 16,
        max_elements: 1000,
    };

    fn c14n(xml: &str, method: &C14nMethod) -> String {
        let d = doc::parse(xml.as_bytes(), LIMITS).unwrap();
        String::from_utf8(document(&d, method, None)).unwrap()
    }

    fn sub(xml: &str, local: &str, method: &C14nMethod) -> String {
        let d = doc::parse(xml.as_bytes(), LIMITS).unwrap();
        let id = d.elems.iter().position(|e| e.local == local).unwrap();
        String::from_utf8(subtree(&d, id, method)).unwrap()
    }

    const INC: C14nMethod = C14nMethod::Inclusive { comments: false };
    fn exc() -> C14nMethod {
        C14nMethod::Exclusive {
            comments: false,
            prefixes: vec![],
        }
    }

    #[test]
    fn inclusive_subset_inherits_xml_attributes_exclusive_does_not() {
        // C14N 1.0 §2.4: the apex of a document subset gets its ancestors'
        // xml:* attributes (nearest first); its own win.
        let xml = r#"<r xml:lang="fr" xml:space="preserve" xml:base="b"><s xml:lang="de"><apex xml:base="own"/></s></r>"#;
        assert_eq!(
            sub(xml, "apex", &INC),
            r#"<apex xml:base="own" xml:lang="de" xml:space="preserve"></apex>"#
        );
        assert_eq!(sub(xml, "apex", &exc()), r#"<apex xml:base="own"></apex>"#);
    }

    #[test]
    fn default_namespace_reset_only_when_needed() {
        let xml = r#"<a xmlns="urn:a"><b xmlns=""><c xmlns=""/></b><d xmlns:p="urn:p"/></a>"#;
        assert_eq!(
            c14n(xml, &INC),
            r#"<a xmlns="urn:a"><b xmlns=""><c></c></b><d xmlns:p="urn:p"></d></a>"#
        );
        assert_eq!(
            c14n(xml, &exc()),
            r#"<a xmlns="urn:a"><b xmlns=""><c></c></b><d></d></a>"#
        );
        // No default anywhere: never xmlns="".
        assert_eq!(c14n(r#"<a><b xmlns=""/></a>"#, &INC), "<a><b></b></a>");
    }

    #[test]
    fn excluded_subtree_and_prefix_list_default() {
        let xml = r#"<a xmlns="urn:a" xmlns:s="urn:s"><x/><s:sig><s:in/></s:sig><y/></a>"#;
        let d = doc::parse(xml.as_bytes(), LIMITS).unwrap();
        let sig = d.elems.iter().position(|e| e.local == "sig").unwrap();
        assert_eq!(
            String::from_utf8(document(&d, &INC, Some(sig))).unwrap(),
            r#"<a xmlns="urn:a" xmlns:s="urn:s"><x></x><y></y></a>"#
        );
        let m = C14nMethod::Exclusive {
            comments: false,
            prefixes: vec!["#default".into(), "s".into()],
        };
        assert_eq!(
            sub(
                r#"<a xmlns="urn:a" xmlns:s="urn:s"><p:b xmlns:p="urn:p"/></a>"#,
                "b",
                &m
            ),
            r#"<p:b xmlns="urn:a" xmlns:p="urn:p" xmlns:s="urn:s"></p:b>"#
        );
    }
}
