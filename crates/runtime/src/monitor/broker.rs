//! The embedded MQTT endpoint, so a single-machine install needs no broker:
//! monitoring units connect with MQTT 3.1.1 (username = the unit's id,
//! password = its secret) and publish to their own topics
//! (`firstlink/v1/units/{id}/json` or `/bin`); each message is handled
//! in-process and a QoS 1 message is acknowledged only once its
//! consequences are durable.
//!
//! It is an ingest endpoint, not a general-purpose broker: it forwards
//! nothing, refuses SUBSCRIBE (SUBACK failure) and QoS 2, and closes the
//! connection of a unit that publishes under another unit's topic (counted
//! as `identity_mismatch`). Packets are parsed with `rumqttc`'s MQTT codec.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use firstlink_monitor::{DecodeError, UnitTopic};
use rumqttc::mqttbytes::v4::{
    ConnAck, ConnectReturnCode, Packet, PubAck, SubAck, SubscribeReasonCode, UnsubAck,
};
use rumqttc::mqttbytes::{Error as CodecError, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::{IngestError, Payload, Via};
use crate::app::App;

/// Largest packet accepted (a unit's payload is at most 2 KiB).
const MAX_PACKET: usize = 4_096;
/// Connections served at once.
const MAX_CONNECTIONS: usize = 100_000;
/// A client must send CONNECT within this time.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle limit when the client asks for no keep-alive.
const MAX_IDLE: Duration = Duration::from_secs(3_600);

/// Binds the endpoint and serves in the background; returns the bound address.
/// Why the endpoint cannot listen, naming the setting that moves it.
fn bind_error(addr: &str, e: &std::io::Error) -> anyhow::Error {
    let fix = "set FIRSTLINK_MONITOR__BROKER_LISTEN or [monitor] broker_listen to another address, \
               or 127.0.0.1:0 for any free port (\"\" turns the endpoint off)";
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            anyhow::anyhow!("monitor.broker_listen {addr} is in use: {fix}")
        }
        _ => anyhow::anyhow!("monitor.broker_listen {addr}: cannot listen ({e}): {fix}"),
    }
}

pub async fn bind(app: &Arc<App>, addr: &str) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| bind_error(addr, &e))?;
    let bound = listener.local_addr()?;
    let app = Arc::clone(app);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "monitoring broker accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                drop(stream);
                continue;
            };
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let _permit = permit;
                let _ = stream.set_nodelay(true);
                if let Err(e) = serve(&app, stream).await {
                    tracing::debug!(%peer, error = %e, "monitoring connection closed");
                }
            });
        }
    });
    tracing::info!(%bound, "embedded MQTT endpoint for monitoring units listening");
    Ok(bound)
}

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Codec(#[from] CodecError),
    #[error("timed out")]
    Timeout,
    #[error("closed by peer")]
    Closed,
    #[error("{0}")]
    Refused(&'static str),
}

struct Conn {
    stream: TcpStream,
    rx: BytesMut,
    tx: BytesMut,
}

impl Conn {
    async fn next(&mut self, within: Duration) -> Result<Packet, ConnError> {
        loop {
            match Packet::read(&mut self.rx, MAX_PACKET) {
                Ok(p) => return Ok(p),
                Err(CodecError::InsufficientBytes(_)) => {}
                Err(e) => return Err(e.into()),
            }
            let n = tokio::time::timeout(within, self.stream.read_buf(&mut self.rx))
                .await
                .map_err(|_| ConnError::Timeout)??;
            if n == 0 {
                return Err(ConnError::Closed);
            }
        }
    }

    async fn send(&mut self, p: Packet) -> Result<(), ConnError> {
        self.tx.clear();
        p.write(&mut self.tx, MAX_PACKET)?;
        self.stream.write_all(&self.tx).await?;
        Ok(())
    }
}

async fn serve(app: &Arc<App>, stream: TcpStream) -> Result<(), ConnError> {
    let mut c = Conn {
        stream,
        rx: BytesMut::with_capacity(1_024),
        tx: BytesMut::with_capacity(64),
    };
    let Packet::Connect(connect) = c.next(CONNECT_TIMEOUT).await? else {
        return Err(ConnError::Refused("first packet is not CONNECT"));
    };
    let unit = match authenticate(
        app,
        connect
            .login
            .as_ref()
            .map(|l| (l.username.as_str(), l.password.as_str())),
    ) {
        Ok(u) => u,
        Err(code) => {
            app.monitor
                .counters
                .reject("mqtt-connect", &IngestError::BadCredentials);
            c.send(Packet::ConnAck(ConnAck::new(code, false))).await?;
            return Err(ConnError::Refused("bad credentials"));
        }
    };
    c.send(Packet::ConnAck(ConnAck::new(
        ConnectReturnCode::Success,
        false,
    )))
    .await?;
    let idle = match connect.keep_alive {
        0 => MAX_IDLE,
        k => Duration::from_millis(u64::from(k) * 1_500),
    };
    loop {
        match c.next(idle).await? {
            Packet::Publish(p) => {
                if p.qos == QoS::ExactlyOnce {
                    return Err(ConnError::Refused("QoS 2 is not supported"));
                }
                let payload = match firstlink_monitor::parse_unit_topic(&p.topic) {
                    Ok(UnitTopic::Json(id)) if id == unit => Payload::Json(&p.payload),
                    Ok(UnitTopic::Binary(id)) if id == unit => Payload::Binary(&p.payload),
                    Ok(_) => {
                        app.monitor.counters.reject(
                            "mqtt-broker",
                            &IngestError::Decode(DecodeError::IdentityMismatch),
                        );
                        return Err(ConnError::Refused("published under another unit's topic"));
                    }
                    Err(e) => {
                        app.monitor
                            .counters
                            .reject("mqtt-broker", &IngestError::Decode(e));
                        return Err(ConnError::Refused("bad topic"));
                    }
                };
                match app.monitor.ingest(app, unit, Via::Broker, payload).await {
                    Ok(()) => {}
                    Err(e) if e.is_client_error() => app.monitor.counters.reject("mqtt-broker", &e),
                    // Not durable: no PUBACK; the unit sends it again after reconnecting.
                    Err(e) => {
                        tracing::error!(unit = %unit, error = %e, "telemetry could not be recorded");
                        return Err(ConnError::Refused("storage unavailable"));
                    }
                }
                if p.qos == QoS::AtLeastOnce {
                    c.send(Packet::PubAck(PubAck::new(p.pkid))).await?;
                }
            }
            Packet::PingReq => c.send(Packet::PingResp).await?,
            Packet::Subscribe(s) => {
                let codes = s
                    .filters
                    .iter()
                    .map(|_| SubscribeReasonCode::Failure)
                    .collect();
                c.send(Packet::SubAck(SubAck::new(s.pkid, codes))).await?;
            }
            Packet::Unsubscribe(u) => c.send(Packet::UnsubAck(UnsubAck::new(u.pkid))).await?,
            Packet::Disconnect => return Ok(()),
            _ => return Err(ConnError::Refused("unexpected packet")),
        }
    }
}

/// The unit a CONNECT's credentials belong to.
fn authenticate(app: &App, login: Option<(&str, &str)>) -> Result<Uuid, ConnectReturnCode> {
    let (user, pass) = login.ok_or(ConnectReturnCode::NotAuthorized)?;
    let id = Uuid::parse_str(user).map_err(|_| ConnectReturnCode::BadUserNamePassword)?;
    let unit = app
        .monitor
        .unit(id)
        .ok_or(ConnectReturnCode::BadUserNamePassword)?;
    if unit.revoked_at.is_some() {
        return Err(ConnectReturnCode::NotAuthorized);
    }
    if !app.monitor.key_for(&unit).matches_secret(pass) {
        return Err(ConnectReturnCode::BadUserNamePassword);
    }
    Ok(id)
}
