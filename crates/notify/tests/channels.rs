//! Integration tests for every channel against local mock servers on
//! 127.0.0.1, plus the texts. One test binary (modules) to keep link time low.
//!
//! Test keys in `tests/keys/` were generated with:
//!   openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out fcm_test_rsa.pem
//!   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out apns_test_p256.p8
//! They are test-only and protect nothing.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use firstlink_notify::{Message, Urgency};
use serde_json::{Value, json};

const RSA_PEM: &str = include_str!("keys/fcm_test_rsa.pem");
const P8_PEM: &str = include_str!("keys/apns_test_p256.p8");

fn b64url(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

fn pem_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(b64).expect("pem base64")
}

/// Splits a compact JWS and returns (header, claims, signing input, signature).
fn split_jwt(jwt: &str) -> (Value, Value, String, Vec<u8>) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT must have three parts: {jwt}");
    let header = serde_json::from_slice(&b64url(parts[0])).expect("header json");
    let claims = serde_json::from_slice(&b64url(parts[1])).expect("claims json");
    (
        header,
        claims,
        format!("{}.{}", parts[0], parts[1]),
        b64url(parts[2]),
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn message(urgency: Urgency) -> Message {
    Message {
        id: "alert-0b7e4c1e-2f52-4a57-9d1f-6a1c3c0e8f11".to_owned(),
        urgency,
        ttl_seconds: 120,
        title: "Suspected cardiac arrest nearby".to_owned(),
        body: "Someone 420 m from you may be in cardiac arrest.".to_owned(),
        data: json!({"mission": "m-42", "distance_m": 420}),
    }
}

fn header<'a>(req: &'a mock::Req, name: &str) -> &'a str {
    req.headers
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .unwrap()
}

mod mock {
    //! A tiny HTTP/1.1 + h2c (prior knowledge) server that records requests.

    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use http_body_util::{BodyExt as _, Full};
    use hyper::body::{Bytes, Incoming};
    use hyper::service::service_fn;
    use hyper::{HeaderMap, Request, Response, Version};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use tokio::net::TcpListener;

    #[derive(Clone, Debug)]
    pub struct Req {
        pub method: String,
        pub path: String,
        pub headers: HeaderMap,
        pub body: Vec<u8>,
        pub version: Version,
    }

    pub struct Reply {
        pub status: u16,
        pub headers: Vec<(&'static str, String)>,
        pub body: String,
    }

    impl Reply {
        pub fn new(status: u16, body: impl Into<String>) -> Self {
            Reply {
                status,
                headers: Vec::new(),
                body: body.into(),
            }
        }

        pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
            self.headers.push((name, value.into()));
            self
        }
    }

    pub struct Mock {
        pub base: String,
        reqs: Arc<Mutex<Vec<Req>>>,
    }

    impl Mock {
        pub fn requests(&self) -> Vec<Req> {
            self.reqs.lock().unwrap().clone()
        }

        pub fn requests_to(&self, path: &str) -> Vec<Req> {
            self.requests()
                .into_iter()
                .filter(|r| r.path == path)
                .collect()
        }
    }

    pub async fn spawn(handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let reqs = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let reqs2 = reqs.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = handler.clone();
                let reqs = reqs2.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let handler = handler.clone();
                        let reqs = reqs.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes().to_vec())
                                .unwrap_or_default();
                            let req = Req {
                                method: parts.method.to_string(),
                                path: parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default(),
                                headers: parts.headers,
                                body,
                                version: parts.version,
                            };
                            let reply = handler(&req);
                            reqs.lock().unwrap().push(req);
                            let mut resp = Response::builder().status(reply.status);
                            for (k, v) in reply.headers {
                                resp = resp.header(k, v);
                            }
                            Ok::<_, Infallible>(
                                resp.body(Full::new(Bytes::from(reply.body))).unwrap(),
                            )
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Mock { base, reqs }
    }
}

mod web_push {
    use super::*;
    use aes_gcm::aead::{Aead as _, KeyInit as _};
    use aes_gcm::{Aes128Gcm, Nonce};
    use firstlink_notify::{
        ChannelKind, Notifier, NotifyConfig, Recipient, SendError, WebPushConfig,
        generate_vapid_keypair,
    };
    use hkdf::Hkdf;
    use mock::Reply;
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::{Signature, VerifyingKey};
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    use p256::{PublicKey, SecretKey};
    use rand_core::{OsRng, RngCore as _};
    use sha2::Sha256;

    struct Subscriber {
        secret: SecretKey,
        auth: [u8; 16],
    }

    impl Subscriber {
        fn new() -> Self {
            let mut auth = [0; 16];
            OsRng.fill_bytes(&mut auth);
            Subscriber {
                secret: SecretKey::random(&mut OsRng),
                auth,
            }
        }

        fn public(&self) -> Vec<u8> {
            self.secret
                .public_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec()
        }

        fn recipient(&self, endpoint: String) -> Recipient {
            Recipient::WebPush {
                endpoint,
                p256dh: URL_SAFE_NO_PAD.encode(self.public()),
                auth: URL_SAFE_NO_PAD.encode(self.auth),
            }
        }

        /// The user agent side of RFC 8291 / RFC 8188.
        fn decrypt(&self, body: &[u8]) -> Vec<u8> {
            let salt = &body[..16];
            let rs = u32::from_be_bytes(body[16..20].try_into().unwrap());
            assert_eq!(rs, 4096);
            assert_eq!(body[20], 65, "keyid must be the 65-byte sender key");
            let as_public = &body[21..86];
            let ciphertext = &body[86..];
            let as_key = PublicKey::from_sec1_bytes(as_public).unwrap();
            let shared =
                p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), as_key.as_affine());
            let mut info = b"WebPush: info\0".to_vec();
            info.extend_from_slice(&self.public());
            info.extend_from_slice(as_public);
            let mut ikm = [0; 32];
            Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
                .expand(&info, &mut ikm)
                .unwrap();
            let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
            let mut cek = [0; 16];
            let mut nonce = [0; 12];
            prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
                .unwrap();
            prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
                .unwrap();
            let mut plain = Aes128Gcm::new_from_slice(&cek)
                .unwrap()
                .decrypt(&Nonce::from(nonce), ciphertext)
                .expect("payload must decrypt with the subscriber's key");
            // Strip padding: trailing zeros, then the 0x02 last-record delimiter.
            while plain.last() == Some(&0) {
                plain.pop();
            }
            assert_eq!(plain.pop(), Some(2), "last record delimiter");
            plain
        }
    }

    fn notifier() -> (Notifier, String) {
        let (private, public) = generate_vapid_keypair();
        let config = NotifyConfig {
            web_push: Some(WebPushConfig {
                vapid_private_key: private.into(),
                subject: "mailto:ops@example.org".to_owned(),
            }),
            ..NotifyConfig::default()
        };
        (Notifier::new(config).unwrap(), public)
    }

    async fn push_service() -> mock::Mock {
        mock::spawn(|req| match req.path.as_str() {
            "/push/ok" => Reply::new(201, "").header("Location", "/m/abc123"),
            "/push/gone" => Reply::new(410, "subscription expired"),
            "/push/missing" => Reply::new(404, "not found"),
            "/push/busy" => Reply::new(429, "slow down").header("Retry-After", "30"),
            _ => Reply::new(500, "oops"),
        })
        .await
    }

    #[tokio::test]
    async fn encrypts_and_signs_a_push() {
        let (notifier, public) = notifier();
        assert_eq!(
            notifier.vapid_public_key().as_deref(),
            Some(public.as_str())
        );
        assert!(notifier.configured(ChannelKind::WebPush));
        assert!(!notifier.configured(ChannelKind::Fcm));
        let service = push_service().await;
        let sub = Subscriber::new();
        let msg = message(Urgency::High);

        let delivered = notifier
            .send(&sub.recipient(format!("{}/push/ok", service.base)), &msg)
            .await
            .unwrap();
        assert_eq!(delivered.channel, ChannelKind::WebPush);
        assert_eq!(delivered.provider_id.as_deref(), Some("/m/abc123"));

        let reqs = service.requests();
        assert_eq!(reqs.len(), 1);
        let req = &reqs[0];
        assert_eq!(req.method, "POST");
        assert_eq!(header(req, "content-encoding"), "aes128gcm");
        assert_eq!(header(req, "ttl"), "120");
        assert_eq!(header(req, "urgency"), "high");
        let topic = header(req, "topic");
        assert!(topic.len() <= 32 && !topic.is_empty());
        assert!(
            topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );

        // Payload decrypts with the subscriber's private key.
        let plain: Value = serde_json::from_slice(&sub.decrypt(&req.body)).unwrap();
        assert_eq!(
            plain,
            json!({"id": msg.id, "title": msg.title, "body": msg.body, "data": msg.data})
        );

        // VAPID: vapid t=<jwt>, k=<public key>; the JWT verifies with k.
        let auth = header(req, "authorization");
        let rest = auth.strip_prefix("vapid ").expect("vapid scheme");
        let (t, k) = rest.split_once(',').unwrap();
        let jwt = t.trim().strip_prefix("t=").unwrap();
        let k = k.trim().strip_prefix("k=").unwrap();
        assert_eq!(k, public);
        let (jwt_header, claims, input, sig) = split_jwt(jwt);
        assert_eq!(jwt_header["alg"], "ES256");
        assert_eq!(claims["aud"], service.base.as_str());
        assert_eq!(claims["sub"], "mailto:ops@example.org");
        let exp = claims["exp"].as_u64().unwrap();
        assert!(exp > now() && exp <= now() + 24 * 3600);
        let key = VerifyingKey::from_sec1_bytes(&b64url(k)).unwrap();
        let sig = Signature::from_slice(&sig).unwrap();
        key.verify(input.as_bytes(), &sig)
            .expect("VAPID signature must verify with the announced key");

        // Same message id, same topic (a resend replaces the earlier push).
        notifier
            .send(&sub.recipient(format!("{}/push/ok", service.base)), &msg)
            .await
            .unwrap();
        let reqs = service.requests();
        assert_eq!(header(&reqs[1], "topic"), topic);
        assert_ne!(reqs[0].body, reqs[1].body, "fresh salt and key per message");
    }

    #[tokio::test]
    async fn maps_push_service_errors() {
        let (notifier, _) = notifier();
        let service = push_service().await;
        let sub = Subscriber::new();
        let msg = message(Urgency::Normal);
        let send = |path: &str| {
            let to = sub.recipient(format!("{}{path}", service.base));
            let (notifier, msg) = (&notifier, &msg);
            async move { notifier.send(&to, msg).await }
        };

        assert!(send("/push/gone").await.unwrap_err().is_permanent());
        assert!(send("/push/missing").await.unwrap_err().is_permanent());
        match send("/push/busy").await.unwrap_err() {
            SendError::Transient { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(30)))
            }
            other => panic!("expected transient, got {other:?}"),
        }
        match send("/push/fail").await.unwrap_err() {
            SendError::Transient { retry_after, .. } => assert_eq!(retry_after, None),
            other => panic!("expected transient, got {other:?}"),
        }
        assert_eq!(header(&service.requests()[0], "urgency"), "normal");

        // Broken subscription keys never reach the network.
        let before = service.requests().len();
        let bad = Recipient::WebPush {
            endpoint: format!("{}/push/ok", service.base),
            p256dh: "not-a-key".to_owned(),
            auth: "AAAA".to_owned(),
        };
        assert!(notifier.send(&bad, &msg).await.unwrap_err().is_permanent());
        assert_eq!(service.requests().len(), before);

        // Too large for one push message.
        let mut big = msg.clone();
        big.body = "x".repeat(5000);
        assert!(matches!(
            notifier
                .send(&sub.recipient(format!("{}/push/ok", service.base)), &big)
                .await,
            Err(SendError::InvalidMessage { .. })
        ));
    }
}

mod fcm {
    use super::*;
    use firstlink_notify::{FcmConfig, Notifier, NotifyConfig, Recipient, SendError};
    use mock::Reply;
    use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};

    async fn google() -> mock::Mock {
        mock::spawn(|req| {
            if req.path == "/token" {
                return Reply::new(
                    200,
                    r#"{"access_token":"ya29.test-token","expires_in":3599,"token_type":"Bearer"}"#,
                )
                .header("content-type", "application/json");
            }
            if req.path != "/v1/projects/demo-project/messages:send" {
                return Reply::new(404, "");
            }
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            match body["message"]["token"].as_str().unwrap_or_default() {
                "good" => Reply::new(200, r#"{"name":"projects/demo-project/messages/0:1"}"#),
                "gone" => Reply::new(
                    404,
                    r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#,
                ),
                "bad" => Reply::new(
                    400,
                    r#"{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}"#,
                ),
                "busy" => Reply::new(
                    429,
                    r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#,
                )
                .header("Retry-After", "12"),
                _ => Reply::new(503, r#"{"error":{"code":503,"status":"UNAVAILABLE"}}"#),
            }
        })
        .await
    }

    fn notifier(base: &str) -> Notifier {
        Notifier::new(NotifyConfig {
            fcm: Some(FcmConfig {
                project_id: "demo-project".to_owned(),
                client_email: "notify@demo-project.iam.gserviceaccount.com".to_owned(),
                private_key_pem: RSA_PEM.into(),
                token_uri: format!("{base}/token"),
                api_base: base.to_owned(),
            }),
            ..NotifyConfig::default()
        })
        .unwrap()
    }

    fn to(token: &str) -> Recipient {
        Recipient::Fcm {
            token: token.to_owned(),
        }
    }

    #[tokio::test]
    async fn oauth_once_then_send() {
        let google = google().await;
        let notifier = notifier(&google.base);
        let msg = message(Urgency::High);
        let first = notifier.send(&to("good"), &msg).await.unwrap();
        assert_eq!(
            first.provider_id.as_deref(),
            Some("projects/demo-project/messages/0:1")
        );
        notifier.send(&to("good"), &msg).await.unwrap();

        // One token request for two sends.
        let token_reqs = google.requests_to("/token");
        assert_eq!(token_reqs.len(), 1);
        let form = String::from_utf8(token_reqs[0].body.clone()).unwrap();
        assert_eq!(
            header(&token_reqs[0], "content-type"),
            "application/x-www-form-urlencoded"
        );
        let mut grant = None;
        let mut assertion = None;
        for pair in form.split('&') {
            let (k, v) = pair.split_once('=').unwrap();
            match k {
                "grant_type" => grant = Some(v.to_owned()),
                "assertion" => assertion = Some(v.to_owned()),
                _ => panic!("unexpected form field {k}"),
            }
        }
        assert_eq!(
            grant.as_deref(),
            Some("urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
        );
        let (jwt_header, claims, input, sig) = split_jwt(&assertion.unwrap());
        assert_eq!(jwt_header["alg"], "RS256");
        assert_eq!(claims["iss"], "notify@demo-project.iam.gserviceaccount.com");
        assert_eq!(
            claims["scope"],
            "https://www.googleapis.com/auth/firebase.messaging"
        );
        assert_eq!(claims["aud"], format!("{}/token", google.base));
        let iat = claims["iat"].as_u64().unwrap();
        assert_eq!(claims["exp"].as_u64().unwrap() - iat, 3600);
        assert!(iat.abs_diff(now()) < 60);
        let key = RsaKeyPair::from_pkcs8(&pem_der(RSA_PEM)).unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public().as_ref())
            .verify(input.as_bytes(), &sig)
            .expect("assertion must be signed with the service account key");

        // The send request.
        let sends = google.requests_to("/v1/projects/demo-project/messages:send");
        assert_eq!(sends.len(), 2);
        assert_eq!(header(&sends[0], "authorization"), "Bearer ya29.test-token");
        let body: Value = serde_json::from_slice(&sends[0].body).unwrap();
        let m = &body["message"];
        assert_eq!(m["token"], "good");
        assert_eq!(
            m["notification"],
            json!({"title": msg.title, "body": msg.body})
        );
        assert_eq!(
            m["data"],
            json!({"mission": "m-42", "distance_m": "420", "id": msg.id})
        );
        assert_eq!(m["android"]["priority"], "high");
        assert_eq!(m["android"]["collapse_key"], msg.id.as_str());
        assert_eq!(m["android"]["ttl"], "120s");
    }

    #[tokio::test]
    async fn maps_fcm_errors() {
        let google = google().await;
        let notifier = notifier(&google.base);
        let msg = message(Urgency::Normal);
        assert!(
            notifier
                .send(&to("gone"), &msg)
                .await
                .unwrap_err()
                .is_permanent()
        );
        assert!(
            notifier
                .send(&to("bad"), &msg)
                .await
                .unwrap_err()
                .is_permanent()
        );
        match notifier.send(&to("busy"), &msg).await.unwrap_err() {
            SendError::Transient { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(12)))
            }
            other => panic!("expected transient, got {other:?}"),
        }
        assert!(
            notifier
                .send(&to("down"), &msg)
                .await
                .unwrap_err()
                .is_transient()
        );
        assert_eq!(google.requests_to("/token").len(), 1);
    }

    #[tokio::test]
    async fn rejected_oauth_is_transient() {
        let google = mock::spawn(|_| Reply::new(400, r#"{"error":"invalid_grant"}"#)).await;
        let err = notifier(&google.base)
            .send(&to("good"), &message(Urgency::High))
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");
    }
}

mod apns {
    use super::*;
    use firstlink_notify::{ApnsConfig, Notifier, NotifyConfig, Recipient, SendError};
    use hyper::Version;
    use mock::Reply;
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::DecodePrivateKey as _;

    async fn apple() -> mock::Mock {
        mock::spawn(|req| match req.path.as_str() {
            "/3/device/aa11" => {
                Reply::new(200, "").header("apns-id", "EC1BF194-B3B2-424A-A5D3-1E1AE1C6E1AB")
            }
            "/3/device/bb22" => Reply::new(
                410,
                r#"{"reason":"Unregistered","timestamp":1700000000000}"#,
            ),
            "/3/device/cc33" => Reply::new(400, r#"{"reason":"BadDeviceToken"}"#),
            "/3/device/dd44" => Reply::new(429, r#"{"reason":"TooManyRequests"}"#),
            _ => Reply::new(500, r#"{"reason":"InternalServerError"}"#),
        })
        .await
    }

    fn notifier(base: &str, critical: bool) -> Notifier {
        Notifier::new(NotifyConfig {
            apns: Some(ApnsConfig {
                team_id: "TEAM123456".to_owned(),
                key_id: "KEY7654321".to_owned(),
                private_key_pem: P8_PEM.into(),
                topic: "org.example.firstlink".to_owned(),
                base_url: base.to_owned(),
                critical_alerts: critical,
            }),
            ..NotifyConfig::default()
        })
        .unwrap()
    }

    fn to(token: &str) -> Recipient {
        Recipient::Apns {
            device_token: token.to_owned(),
        }
    }

    #[tokio::test]
    async fn sends_over_h2_with_provider_token() {
        let apple = apple().await;
        let notifier = notifier(&apple.base, false);
        let msg = message(Urgency::High);
        let delivered = notifier.send(&to("aa11"), &msg).await.unwrap();
        assert_eq!(
            delivered.provider_id.as_deref(),
            Some("EC1BF194-B3B2-424A-A5D3-1E1AE1C6E1AB")
        );
        let mut low = message(Urgency::Low);
        low.id = "survey-1".to_owned();
        notifier.send(&to("aa11"), &low).await.unwrap();

        let reqs = apple.requests();
        assert_eq!(reqs.len(), 2);
        let req = &reqs[0];
        assert_eq!(req.version, Version::HTTP_2, "APNs requires HTTP/2");
        assert_eq!(req.method, "POST");
        assert_eq!(header(req, "apns-topic"), "org.example.firstlink");
        assert_eq!(header(req, "apns-push-type"), "alert");
        assert_eq!(header(req, "apns-priority"), "10");
        assert_eq!(header(req, "apns-collapse-id"), msg.id.as_str());
        let exp: u64 = header(req, "apns-expiration").parse().unwrap();
        assert!(exp.abs_diff(now() + 120) < 60);
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body["aps"],
            json!({
                "alert": {"title": msg.title, "body": msg.body},
                "sound": "default",
                "interruption-level": "time-sensitive",
            })
        );
        assert_eq!(body["data"], msg.data);

        // Provider token: ES256 with kid / iss, signed by the .p8 key.
        let bearer = header(req, "authorization")
            .strip_prefix("bearer ")
            .unwrap();
        let (h, claims, input, sig) = split_jwt(bearer);
        assert_eq!(h["alg"], "ES256");
        assert_eq!(h["kid"], "KEY7654321");
        assert_eq!(claims["iss"], "TEAM123456");
        assert!(claims["iat"].as_u64().unwrap().abs_diff(now()) < 60);
        let key = SigningKey::from_pkcs8_der(&pem_der(P8_PEM)).unwrap();
        key.verifying_key()
            .verify(input.as_bytes(), &Signature::from_slice(&sig).unwrap())
            .expect("provider token must verify with the .p8 key");

        // Cached: the second request reuses the same token.
        assert_eq!(
            header(&reqs[1], "authorization"),
            header(req, "authorization")
        );
        assert_eq!(header(&reqs[1], "apns-priority"), "5");
        assert_eq!(header(&reqs[1], "apns-collapse-id"), "survey-1");
        let body: Value = serde_json::from_slice(&reqs[1].body).unwrap();
        assert_eq!(body["aps"]["interruption-level"], "active");
    }

    #[tokio::test]
    async fn critical_alerts_when_entitled() {
        let apple = apple().await;
        notifier(&apple.base, true)
            .send(&to("aa11"), &message(Urgency::High))
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&apple.requests()[0].body).unwrap();
        assert_eq!(body["aps"]["interruption-level"], "critical");
        assert_eq!(body["aps"]["sound"]["critical"], 1);
    }

    #[tokio::test]
    async fn maps_apns_errors() {
        let apple = apple().await;
        let notifier = notifier(&apple.base, false);
        let msg = message(Urgency::High);
        assert!(
            notifier
                .send(&to("bb22"), &msg)
                .await
                .unwrap_err()
                .is_permanent()
        );
        assert!(
            notifier
                .send(&to("cc33"), &msg)
                .await
                .unwrap_err()
                .is_permanent()
        );
        assert!(
            notifier
                .send(&to("dd44"), &msg)
                .await
                .unwrap_err()
                .is_transient()
        );
        assert!(
            notifier
                .send(&to("ee55"), &msg)
                .await
                .unwrap_err()
                .is_transient()
        );
        // Not hex: rejected before any request (no path injection).
        let before = apple.requests().len();
        assert!(matches!(
            notifier.send(&to("../../x"), &msg).await,
            Err(SendError::Permanent { .. })
        ));
        assert_eq!(apple.requests().len(), before);
    }
}

mod sms {
    use super::*;
    use firstlink_notify::{Notifier, NotifyConfig, Recipient, SendError, SmsConfig};
    use mock::Reply;

    #[tokio::test]
    async fn posts_to_gateway_and_maps_errors() {
        let gateway = mock::spawn(|req| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            match body["to"].as_str().unwrap_or_default() {
                "+46700000001" => Reply::new(200, r#"{"id":"sms-1"}"#),
                "+46700000002" => Reply::new(400, r#"{"error":"unknown number"}"#),
                "+46700000003" => Reply::new(429, "").header("Retry-After", "5"),
                _ => Reply::new(503, "down"),
            }
        })
        .await;
        let notifier = Notifier::new(NotifyConfig {
            sms: Some(SmsConfig {
                url: format!("{}/v1/sms", gateway.base),
                auth_token: "gw-token".into(),
                from: "firstlink".to_owned(),
            }),
            ..NotifyConfig::default()
        })
        .unwrap();
        let to = |phone: &str| Recipient::Sms {
            phone: phone.to_owned(),
        };
        let msg = message(Urgency::High);
        let ok = notifier.send(&to("+46700000001"), &msg).await.unwrap();
        assert_eq!(ok.provider_id.as_deref(), Some("sms-1"));
        let req = &gateway.requests()[0];
        assert_eq!(req.path, "/v1/sms");
        assert_eq!(header(req, "authorization"), "Bearer gw-token");
        assert_eq!(header(req, "idempotency-key"), msg.id.as_str());
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            json!({"from": "firstlink", "to": "+46700000001", "text": format!("{}\n{}", msg.title, msg.body)})
        );

        assert!(
            notifier
                .send(&to("+46700000002"), &msg)
                .await
                .unwrap_err()
                .is_permanent()
        );
        assert_eq!(
            notifier.send(&to("+46700000003"), &msg).await.unwrap_err(),
            SendError::Transient {
                reason: "sms gateway 429 Too Many Requests: ".to_owned(),
                retry_after: Some(Duration::from_secs(5)),
            }
        );
        assert!(
            notifier
                .send(&to("+46700000004"), &msg)
                .await
                .unwrap_err()
                .is_transient()
        );
        let sent = gateway.requests().len();
        assert!(
            notifier
                .send(&to("0701234567"), &msg)
                .await
                .unwrap_err()
                .is_permanent()
        );
        assert_eq!(gateway.requests().len(), sent, "invalid number is not sent");
    }
}

mod email {
    use super::*;
    use firstlink_notify::{EmailConfig, Notifier, NotifyConfig, Recipient, SmtpTls};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    use tokio::net::TcpListener;

    /// A minimal SMTP server: EHLO/HELO, MAIL, RCPT, DATA, RSET, QUIT.
    /// Rejects recipients starting with `nobody@`. Returns (port, transcript, messages).
    async fn smtp_server() -> (u16, Arc<Mutex<Vec<String>>>, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let transcript = Arc::new(Mutex::new(Vec::new()));
        let messages = Arc::new(Mutex::new(Vec::new()));
        let (t2, m2) = (transcript.clone(), messages.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (t, m) = (t2.clone(), m2.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read);
                    write
                        .write_all(b"220 mock.test ESMTP ready\r\n")
                        .await
                        .unwrap();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let cmd = line.trim_end().to_owned();
                        t.lock().unwrap().push(cmd.clone());
                        let upper = cmd.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") {
                            b"250-mock.test\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("HELO") || upper.starts_with("MAIL FROM:") {
                            b"250 OK\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            if upper.contains("<NOBODY@") {
                                b"550 5.1.1 No such user\r\n"
                            } else {
                                b"250 OK\r\n"
                            }
                        } else if upper == "DATA" {
                            write
                                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                                .await
                                .unwrap();
                            let mut data = String::new();
                            loop {
                                let mut l = String::new();
                                if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if l == ".\r\n" {
                                    break;
                                }
                                data.push_str(&l);
                            }
                            m.lock().unwrap().push(data);
                            b"250 2.0.0 queued\r\n"
                        } else if upper == "RSET" || upper == "NOOP" {
                            b"250 OK\r\n"
                        } else if upper == "QUIT" {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        } else {
                            b"502 not implemented\r\n"
                        };
                        write.write_all(reply).await.unwrap();
                    }
                });
            }
        });
        (port, transcript, messages)
    }

    #[tokio::test]
    async fn delivers_over_smtp() {
        let (port, transcript, messages) = smtp_server().await;
        let notifier = Notifier::new(NotifyConfig {
            email: Some(EmailConfig {
                smtp_host: "127.0.0.1".to_owned(),
                smtp_port: Some(port),
                tls: SmtpTls::None,
                username: None,
                password: None,
                from: "firstlink <noreply@example.org>".to_owned(),
            }),
            ..NotifyConfig::default()
        })
        .unwrap();
        let msg = message(Urgency::Normal);
        let to = Recipient::Email {
            address: "volunteer@example.net".to_owned(),
        };
        let delivered = notifier.send(&to, &msg).await.unwrap();
        let expected_id = format!("<{}@example.org>", msg.id);
        assert_eq!(delivered.provider_id.as_deref(), Some(expected_id.as_str()));

        let t = transcript.lock().unwrap().clone();
        assert!(t.iter().any(|l| l.starts_with("EHLO ")), "{t:?}");
        assert!(
            t.contains(&"MAIL FROM:<noreply@example.org>".to_owned()),
            "{t:?}"
        );
        assert!(
            t.contains(&"RCPT TO:<volunteer@example.net>".to_owned()),
            "{t:?}"
        );
        let data = messages.lock().unwrap()[0].clone();
        assert!(
            data.contains(&format!("Subject: {}\r\n", msg.title)),
            "{data}"
        );
        assert!(data.contains("To: volunteer@example.net\r\n"), "{data}");
        assert!(
            data.contains(&format!("Message-ID: {expected_id}\r\n")),
            "{data}"
        );
        let (_, body) = data.split_once("\r\n\r\n").expect("headers end");
        assert_eq!(body.trim_end(), msg.body);

        // 550 on RCPT: the address is unusable.
        let nobody = Recipient::Email {
            address: "nobody@example.net".to_owned(),
        };
        let err = notifier.send(&nobody, &msg).await.unwrap_err();
        assert!(err.is_permanent(), "{err:?}");
        let bad = Recipient::Email {
            address: "not an address".to_owned(),
        };
        assert!(notifier.send(&bad, &msg).await.unwrap_err().is_permanent());
    }

    #[tokio::test]
    async fn refused_connection_is_transient() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let notifier = Notifier::new(NotifyConfig {
            timeout_ms: 2000,
            email: Some(EmailConfig {
                smtp_host: "127.0.0.1".to_owned(),
                smtp_port: Some(port),
                tls: SmtpTls::None,
                username: None,
                password: None,
                from: "noreply@example.org".to_owned(),
            }),
            ..NotifyConfig::default()
        })
        .unwrap();
        let to = Recipient::Email {
            address: "volunteer@example.net".to_owned(),
        };
        let err = notifier
            .send(&to, &message(Urgency::Normal))
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");
    }
}

mod webhook {
    use super::*;
    use firstlink_notify::{
        Notifier, NotifyConfig, Recipient, SendError, WebhookConfig, verify_webhook_signature,
    };
    use mock::Reply;

    fn notifier() -> Notifier {
        Notifier::new(NotifyConfig {
            webhook: Some(WebhookConfig::default()),
            ..NotifyConfig::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn signs_and_maps_status() {
        let hook = mock::spawn(|req| match req.path.as_str() {
            "/ok" => Reply::new(204, ""),
            "/gone" => Reply::new(410, ""),
            _ => Reply::new(500, ""),
        })
        .await;
        let notifier = notifier();
        let to = |path: &str| Recipient::Webhook {
            url: format!("{}{path}", hook.base),
            secret: "whsec_test".to_owned(),
        };
        let msg = message(Urgency::High);
        notifier.send(&to("/ok"), &msg).await.unwrap();
        let req = &hook.requests()[0];
        assert_eq!(header(req, "idempotency-key"), msg.id.as_str());
        assert_eq!(header(req, "content-type"), "application/json");
        let sig = header(req, "firstlink-signature");
        let tol = Duration::from_secs(300);
        assert!(verify_webhook_signature(
            "whsec_test",
            sig,
            &req.body,
            now(),
            tol
        ));
        assert!(!verify_webhook_signature(
            "wrong",
            sig,
            &req.body,
            now(),
            tol
        ));
        let mut tampered = req.body.clone();
        tampered[0] = b' ';
        assert!(!verify_webhook_signature(
            "whsec_test",
            sig,
            &tampered,
            now(),
            tol
        ));
        assert!(!verify_webhook_signature(
            "whsec_test",
            sig,
            &req.body,
            now() + 3600,
            tol
        ));

        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["id"], msg.id.as_str());
        assert_eq!(body["title"], msg.title.as_str());
        assert_eq!(body["body"], msg.body.as_str());
        assert_eq!(body["data"], msg.data);
        let sent_at = body["sent_at"].as_str().unwrap();
        assert!(sent_at.len() == 20 && sent_at.ends_with('Z'), "{sent_at}");

        assert!(
            notifier
                .send(&to("/gone"), &msg)
                .await
                .unwrap_err()
                .is_permanent()
        );
        assert!(
            notifier
                .send(&to("/boom"), &msg)
                .await
                .unwrap_err()
                .is_transient()
        );
    }

    #[tokio::test]
    async fn connection_refused_is_transient() {
        let port = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let to = Recipient::Webhook {
            url: format!("http://127.0.0.1:{port}/hook"),
            secret: "s".to_owned(),
        };
        let err = notifier()
            .send(&to, &message(Urgency::High))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Transient { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn times_out_as_transient() {
        // Accepts the connection but never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let notifier = Notifier::new(NotifyConfig {
            timeout_ms: 300,
            webhook: Some(WebhookConfig::default()),
            ..NotifyConfig::default()
        })
        .unwrap();
        let to = Recipient::Webhook {
            url: format!("http://127.0.0.1:{port}/hook"),
            secret: "s".to_owned(),
        };
        let err = notifier
            .send(&to, &message(Urgency::High))
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");
    }
}

mod config {
    use firstlink_notify::{ChannelKind, Notifier, NotifyConfig, Recipient, SendError, SmtpTls};
    use serde_json::json;

    #[test]
    fn parses_with_defaults_and_hides_secrets() {
        let config: NotifyConfig = serde_json::from_value(json!({
            "fcm": {
                "project_id": "p",
                "client_email": "e@p.iam.gserviceaccount.com",
                "private_key_pem": super::RSA_PEM,
            },
            "apns": {
                "team_id": "T", "key_id": "K", "private_key_pem": super::P8_PEM,
                "topic": "org.example.app",
            },
            "sms": {"url": "https://gw.example/sms", "auth_token": "sms-secret-token", "from": "firstlink"},
            "email": {"smtp_host": "smtp.example", "tls": "starttls", "username": "u",
                      "password": "smtp-secret-pw", "from": "noreply@example.org"},
            "webhook": {},
        }))
        .unwrap();
        assert_eq!(config.timeout_ms, 10_000);
        let fcm = config.fcm.as_ref().unwrap();
        assert_eq!(fcm.token_uri, "https://oauth2.googleapis.com/token");
        assert_eq!(fcm.api_base, "https://fcm.googleapis.com");
        assert_eq!(
            config.apns.as_ref().unwrap().base_url,
            "https://api.push.apple.com"
        );
        assert_eq!(config.email.as_ref().unwrap().tls, SmtpTls::Starttls);

        let debug = format!("{config:?}");
        for secret in ["sms-secret-token", "smtp-secret-pw", "PRIVATE KEY"] {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
        let notifier = Notifier::new(config).unwrap();
        assert!(notifier.configured(ChannelKind::Fcm));
        assert!(notifier.configured(ChannelKind::Email));
        assert!(!notifier.configured(ChannelKind::WebPush));
        assert_eq!(notifier.vapid_public_key(), None);

        let hook = Recipient::Webhook {
            url: "https://x.example".to_owned(),
            secret: "hook-secret".to_owned(),
        };
        assert!(!format!("{hook:?}").contains("hook-secret"));
    }

    #[test]
    fn rejects_bad_config() {
        let unknown = serde_json::from_value::<NotifyConfig>(json!({"smss": {}}));
        assert!(unknown.is_err());
        let bad_key: NotifyConfig = serde_json::from_value(json!({
            "web_push": {"vapid_private_key": "AAAA", "subject": "mailto:a@b.c"}
        }))
        .unwrap();
        let err = Notifier::new(bad_key).unwrap_err();
        assert!(
            err.to_string().contains("web_push.vapid_private_key"),
            "{err}"
        );
        assert!(!err.to_string().contains("AAAA"));
        let bad_pem: NotifyConfig = serde_json::from_value(json!({
            "apns": {"team_id": "T", "key_id": "K", "private_key_pem": "nope", "topic": "t"}
        }))
        .unwrap();
        assert!(Notifier::new(bad_pem).is_err());
    }

    #[tokio::test]
    async fn unconfigured_channel() {
        let notifier = Notifier::new(NotifyConfig::default()).unwrap();
        let err = notifier
            .send(
                &Recipient::Sms {
                    phone: "+46700000001".to_owned(),
                },
                &super::message(firstlink_notify::Urgency::High),
            )
            .await
            .unwrap_err();
        assert_eq!(err, SendError::NotConfigured(ChannelKind::Sms));
    }
}

mod texts {
    use firstlink_notify::texts::{Lang, Text, render};

    fn all_texts() -> Vec<Text> {
        vec![
            Text::Alert {
                distance_m: 420,
                minutes: 4,
            },
            Text::TaskDirect {
                address: "Storgatan 12, Umeå".to_owned(),
            },
            Text::TaskViaAed {
                aed_name: "ICA Maxi entrance".to_owned(),
                address: "Storgatan 12, Umeå".to_owned(),
            },
            Text::StandDown,
            Text::OutOfRange,
            Text::MissionEnded,
            Text::MissionCancelled,
            Text::DispatcherMessage {
                text: "Patient is in the back yard".to_owned(),
            },
            Text::Survey {
                url: "https://s.example/abc".to_owned(),
            },
            Text::VerificationCode {
                code: "483920".to_owned(),
            },
            Text::ReturnAed {
                aed_name: "ICA Maxi entrance".to_owned(),
            },
            Text::OwnerReminder {
                aed_name: "Kiosk at the station".to_owned(),
                what: "pads".to_owned(),
                url: "https://fl.example/owner/confirm/x/y".to_owned(),
            },
            Text::OwnerReminder {
                aed_name: "Kiosk at the station".to_owned(),
                what: "registered".to_owned(),
                url: "https://fl.example/owner/confirm/x/y".to_owned(),
            },
            Text::OwnerReminder {
                aed_name: "Kiosk at the station".to_owned(),
                what: "confirm".to_owned(),
                url: "https://fl.example/owner/confirm/x/y".to_owned(),
            },
            Text::AedService {
                aed_name: "Rådhuspladsen 1".to_owned(),
                cause: "status_fault".to_owned(),
                escalated: true,
            },
        ]
    }

    #[test]
    fn every_language_renders_every_text() {
        for lang in Lang::ALL {
            for text in all_texts() {
                let r = render(lang, &text);
                assert!(!r.title.trim().is_empty(), "{lang:?} {text:?}");
                assert!(!r.body.trim().is_empty(), "{lang:?} {text:?}");
                assert!(!r.body.contains('{') && !r.title.contains('{'));
                assert!(r.title.chars().count() <= 60, "title too long: {}", r.title);
                match &text {
                    Text::TaskDirect { address } => assert!(r.body.contains(address)),
                    Text::TaskViaAed { aed_name, address } => {
                        assert!(r.body.contains(aed_name) && r.body.contains(address))
                    }
                    Text::VerificationCode { code } => assert!(r.body.contains(code)),
                    Text::Survey { url } => assert!(r.body.contains(url)),
                    Text::ReturnAed { aed_name } => assert!(r.body.contains(aed_name)),
                    Text::OwnerReminder { aed_name, url, .. } => {
                        assert!(r.body.contains(aed_name) && r.body.contains(url))
                    }
                    Text::AedService {
                        aed_name, cause, ..
                    } => {
                        assert!(r.body.contains(aed_name) && r.body.contains(cause))
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn alert_has_no_address() {
        for lang in Lang::ALL {
            let r = render(
                lang,
                &Text::Alert {
                    distance_m: 1250,
                    minutes: 6,
                },
            );
            let all = format!("{} {}", r.title, r.body);
            // Only the distance and the travel time may appear as numbers.
            let digits: String = all.chars().filter(char::is_ascii_digit).collect();
            assert_eq!(digits, "136", "{lang:?}: {all}");
            for word in ["gatan", "street", "Storgatan", "vej", "straße"] {
                assert!(!all.contains(word));
            }
        }
    }

    #[test]
    fn exact_strings() {
        let r = render(
            Lang::En,
            &Text::Alert {
                distance_m: 424,
                minutes: 5,
            },
        );
        assert_eq!(r.title, "Suspected cardiac arrest nearby");
        assert_eq!(
            r.body,
            "Someone 420 m from you (about 5 min away) may be in cardiac arrest. Can you help? Open the app to answer."
        );
        let r = render(
            Lang::Sv,
            &Text::TaskViaAed {
                aed_name: "Coop Forum".to_owned(),
                address: "Kungsgatan 3".to_owned(),
            },
        );
        assert_eq!(r.title, "Hämta hjärtstartaren först");
        assert_eq!(
            r.body,
            "Hämta hjärtstartaren vid Coop Forum och gå sedan till Kungsgatan 3. Ambulansen är på väg."
        );
        let r = render(
            Lang::De,
            &Text::VerificationCode {
                code: "123456".to_owned(),
            },
        );
        assert_eq!(r.body, "Ihr firstlink-Bestätigungscode lautet 123456");
        assert_eq!(
            render(
                Lang::Fi,
                &Text::Alert {
                    distance_m: 2000,
                    minutes: 0
                }
            )
            .body,
            "Noin 2,0 km päässä sinusta (matkaa n. 1 min) olevalla henkilöllä voi olla sydänpysähdys. Voitko auttaa? Vastaa sovelluksessa."
        );
    }

    #[test]
    fn parses_language_tags() {
        assert_eq!(Lang::from_tag("sv-SE"), Some(Lang::Sv));
        assert_eq!(Lang::from_tag("en"), Some(Lang::En));
        assert_eq!(Lang::from_tag("EN_gb"), Some(Lang::En));
        assert_eq!(Lang::from_tag("no"), Some(Lang::Nb));
        assert_eq!(Lang::from_tag("nb-NO"), Some(Lang::Nb));
        assert_eq!(Lang::from_tag("da"), Some(Lang::Da));
        assert_eq!(Lang::from_tag("fi-FI"), Some(Lang::Fi));
        assert_eq!(Lang::from_tag("de-AT"), Some(Lang::De));
        assert_eq!(Lang::from_tag("fr"), None);
        assert_eq!(Lang::from_tag(""), None);
        for lang in Lang::ALL {
            assert_eq!(Lang::from_tag(lang.tag()), Some(lang));
        }
    }
}
