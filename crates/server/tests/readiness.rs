//! A node listens while it loads: `/health` answers, `/ready` and the API
//! answer 503 `not_ready` until the state is loaded, then everything works.

use std::net::SocketAddr;
use std::sync::Arc;

use firstlink_server::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_waits_for_the_state_to_load() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        monitor: firstlink_server::config::MonitorConfig {
            broker_listen: "127.0.0.1:0".into(),
            ..Default::default()
        },
        ..Config::default()
    };
    let app = firstlink_server::build(config).unwrap();
    // Serve before loading, as `serve_while_starting` does.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = firstlink_server::api::router(Arc::clone(&app));
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let http = reqwest::Client::new();

    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = http.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let r = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({ "username": "x", "password": "y" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_ready", "{body}");

    firstlink_server::launch(&app).await.unwrap();
    assert_eq!(
        http.get(format!("{base}/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({ "username": "x", "password": "y" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "loaded: the API answers for itself");
}
