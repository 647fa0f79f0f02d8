//! firstlink as a client of an external MQTT broker (e.g. Mosquitto): it
//! subscribes to the units' topics (`firstlink/v1/units/+/+`) and, when
//! `monitor.lorawan` is on, to The Things Stack uplinks (`v3/+/devices/+/up`),
//! with QoS 1, a persistent session and manual acknowledgements: a message
//! is acknowledged to the broker only after its consequences are durable, so
//! a crash makes the broker deliver it again rather than lose it.
//!
//! The broker authenticates the units (its own password file and ACL, see
//! `crates/monitor/README.md`); firstlink also checks each message's MAC,
//! because it cannot see who published.

use std::sync::Arc;
use std::time::Duration;

use firstlink_monitor::{TTS_TOPIC_FILTER, UNIT_TOPIC_FILTER, UnitTopic};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use super::{IngestError, Payload, Via};
use crate::app::App;

/// Retries of a message whose consequences could not be stored.
const STORE_RETRIES: u32 = 5;

/// `mqtt://host:port` (or `tcp://`); the port defaults to 1883.
pub fn parse_url(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or_else(|| {
            anyhow::anyhow!("monitor.mqtt_url must look like mqtt://host:port, got {url:?}")
        })?;
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((h, p)) => Ok((
            h.to_string(),
            p.parse()
                .map_err(|_| anyhow::anyhow!("bad port in monitor.mqtt_url {url:?}"))?,
        )),
        None => Ok((rest.to_string(), 1883)),
    }
}

pub fn spawn(app: &Arc<App>, url: &str) -> anyhow::Result<()> {
    let cfg = &app.config.monitor;
    let (host, port) = parse_url(url)?;
    let mut opts = MqttOptions::new(cfg.mqtt_client_id.clone(), host, port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_clean_session(false);
    opts.set_manual_acks(true);
    opts.set_max_packet_size(16 * 1024, 16 * 1024);
    opts.set_inflight(1_000);
    if let Some(user) = &cfg.mqtt_username {
        opts.set_credentials(user.clone(), cfg.mqtt_password.clone().unwrap_or_default());
    }
    let (client, mut events) = AsyncClient::new(opts, 4_096);
    let app = Arc::clone(app);
    let lorawan = cfg.lorawan;
    tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    failures = 0;
                    tracing::info!(url = %app.config.monitor.mqtt_url.as_deref().unwrap_or_default(), "connected to the MQTT broker");
                    let _ = client.subscribe(UNIT_TOPIC_FILTER, QoS::AtLeastOnce).await;
                    if lorawan {
                        let _ = client.subscribe(TTS_TOPIC_FILTER, QoS::AtLeastOnce).await;
                    }
                    app.monitor.set_external_connected(true);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if handle(&app, &p.topic, &p.payload).await {
                        let _ = client.ack(&p).await;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    app.monitor.set_external_connected(false);
                    failures += 1;
                    if failures <= 3 || failures.is_multiple_of(60) {
                        tracing::warn!(error = %e, attempt = failures, "MQTT broker connection lost; reconnecting");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(())
}

/// Handles one message; true when it may be acknowledged (handled, or
/// refused for good), false when it should come again.
async fn handle(app: &Arc<App>, topic: &str, payload: &[u8]) -> bool {
    for attempt in 0..STORE_RETRIES {
        let r = if topic.starts_with("v3/") {
            app.monitor.ingest_lorawan(app, topic, payload).await
        } else {
            match firstlink_monitor::parse_unit_topic(topic) {
                Ok(UnitTopic::Json(id)) => {
                    app.monitor
                        .ingest(app, id, Via::ExternalMqtt, Payload::Json(payload))
                        .await
                }
                Ok(UnitTopic::Binary(id)) => {
                    app.monitor
                        .ingest(app, id, Via::ExternalMqtt, Payload::Binary(payload))
                        .await
                }
                Err(e) => Err(IngestError::Decode(e)),
            }
        };
        match r {
            Ok(()) => return true,
            Err(e) if e.is_client_error() => {
                app.monitor.counters.reject("mqtt", &e);
                return true;
            }
            Err(e) => {
                tracing::error!(topic, attempt, error = %e, "telemetry could not be recorded; retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn broker_urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1883").unwrap(),
            ("127.0.0.1".into(), 1883)
        );
        assert_eq!(
            parse_url("tcp://broker.local").unwrap(),
            ("broker.local".into(), 1883)
        );
        assert!(parse_url("http://x:1").is_err());
        assert!(parse_url("mqtt://x:port").is_err());
    }
}
