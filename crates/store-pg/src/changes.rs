//! Telling the other nodes what changed: `NOTIFY` inside the writing
//! transaction, `LISTEN` on a dedicated connection.
//!
//! A change is announced in the same transaction as the write, so it is
//! delivered exactly when the write commits (and never for a write that rolled
//! back); PostgreSQL delivers notifications in commit order. Each store
//! instance tags its notifications with a random origin and ignores its own
//! (the writing node has applied the change already). Payloads are short
//! text: `origin;item;item…` with items `p:<volunteer>:<lat>:<lon>:<unix>`
//! (a position), `x:<volunteer>` (position deleted), `v:<volunteer>`,
//! `a:<aed>`, `r:<region>`, `m:<incident>`; at most [`MAX_PAYLOAD`] bytes
//! each (PostgreSQL's limit is 8000).
//!
//! Positions are the exception: they are the one high-rate write, and a
//! `NOTIFY` inside a transaction serialises its commit with every other
//! notifying commit. A position is written in its own statement and then
//! announced by [`position_announcer`], which batches whatever arrived while
//! its previous notification was on its way. A node dying between the two
//! loses only the announcement: the position is stored, and the other nodes
//! get the volunteer's next one (or all of them on a resync).
//!
//! If the listening connection breaks, the listener reconnects and reports
//! [`Change::Resync`]: changes may have been missed meanwhile.

use std::time::Duration;

use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::{AedId, IncidentId, RegionId, VolunteerId};
use firstlink_store::{Change, PositionFix, Result};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Config, GenericClient, NoTls};
use uuid::Uuid;

use crate::backend;

pub(crate) const CHANNEL: &str = "firstlink_changes";
const MAX_PAYLOAD: usize = 7_800;

/// The payloads announcing `changes`, each within [`MAX_PAYLOAD`].
pub(crate) fn encode(origin: &str, changes: &[Change]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::from(origin);
    let mut push = |item: String, cur: &mut String| {
        if cur.len() + 1 + item.len() > MAX_PAYLOAD && cur.len() > origin.len() {
            out.push(std::mem::replace(cur, String::from(origin)));
        }
        cur.push(';');
        cur.push_str(&item);
    };
    for c in changes {
        match c {
            Change::Positions(fixes) => {
                for f in fixes {
                    push(
                        format!(
                            "p:{}:{}:{}:{}",
                            f.volunteer.0.simple(),
                            f.position.lat,
                            f.position.lon,
                            f.at_unix
                        ),
                        &mut cur,
                    );
                }
            }
            Change::PositionDeleted(v) => push(format!("x:{}", v.0.simple()), &mut cur),
            Change::Volunteer(v) => push(format!("v:{}", v.0.simple()), &mut cur),
            Change::Aed(a) => push(format!("a:{}", a.0.simple()), &mut cur),
            Change::Region(r) => push(format!("r:{}", r.0.simple()), &mut cur),
            Change::Mission(m) => push(format!("m:{}", m.0.simple()), &mut cur),
            Change::Operator(o) => push(format!("o:{}", o.simple()), &mut cur),
            Change::Unit(u) => push(format!("u:{}", u.simple()), &mut cur),
            Change::Graph(r) => push(format!("g:{}", r.0.simple()), &mut cur),
            // Keys are our own identifiers (no `;`); anything else is not announced.
            Change::ApiKey(k) if !k.contains(';') => push(format!("k:{k}"), &mut cur),
            Change::Setting(k) if !k.contains(';') => push(format!("s:{k}"), &mut cur),
            Change::ApiKey(_) | Change::Setting(_) | Change::Resync => {}
        }
    }
    if cur.len() > origin.len() {
        out.push(cur);
    }
    out
}

/// The changes in a payload, unless it came from `own` origin. Items that do
/// not parse are skipped (a newer node may announce more kinds).
pub(crate) fn decode(own: &str, payload: &str) -> Vec<Change> {
    let mut parts = payload.split(';');
    if parts.next() == Some(own) {
        return Vec::new();
    }
    let mut fixes = Vec::new();
    let mut out = Vec::new();
    for item in parts {
        match item.split_once(':') {
            Some(("k", key)) => {
                out.push(Change::ApiKey(key.to_string()));
                continue;
            }
            Some(("s", key)) => {
                out.push(Change::Setting(key.to_string()));
                continue;
            }
            _ => {}
        }
        let mut f = item.split(':');
        let (Some(kind), Some(id)) = (f.next(), f.next().and_then(|s| Uuid::parse_str(s).ok()))
        else {
            continue;
        };
        match kind {
            "p" => {
                let lat = f.next().and_then(|s| s.parse().ok());
                let lon = f.next().and_then(|s| s.parse().ok());
                let at = f.next().and_then(|s| s.parse().ok());
                if let (Some(lat), Some(lon), Some(at_unix)) = (lat, lon, at)
                    && let Ok(position) = LatLon::new(lat, lon)
                {
                    fixes.push(PositionFix {
                        volunteer: VolunteerId(id),
                        position,
                        at_unix,
                    });
                }
            }
            "x" => out.push(Change::PositionDeleted(VolunteerId(id))),
            "v" => out.push(Change::Volunteer(VolunteerId(id))),
            "a" => out.push(Change::Aed(AedId(id))),
            "r" => out.push(Change::Region(RegionId(id))),
            "m" => out.push(Change::Mission(IncidentId(id))),
            "o" => out.push(Change::Operator(id)),
            "u" => out.push(Change::Unit(id)),
            "g" => out.push(Change::Graph(RegionId(id))),
            _ => {}
        }
    }
    if !fixes.is_empty() {
        out.insert(0, Change::Positions(fixes));
    }
    out
}

/// Announces `changes` in the caller's transaction.
pub(crate) async fn announce(
    c: &impl GenericClient,
    origin: &str,
    changes: &[Change],
) -> Result<()> {
    let payloads = encode(origin, changes);
    if payloads.is_empty() {
        return Ok(());
    }
    c.execute(
        "SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p",
        &[&CHANNEL, &payloads],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// A task announcing position changes ([`Change::Positions`],
/// [`Change::PositionDeleted`]) after their commit, in batches and in the
/// order they were sent, on its own connection; it ends when the returned
/// sender is dropped.
pub(crate) fn position_announcer(config: Config, origin: String) -> mpsc::UnboundedSender<Change> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Change>();
    tokio::spawn(async move {
        let mut client: Option<tokio_postgres::Client> = None;
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 8_192).await > 0 {
            let changes = std::mem::take(&mut batch);
            if client.as_ref().is_none_or(|c| c.is_closed()) {
                client = match config.connect(NoTls).await {
                    Ok((c, conn)) => {
                        tokio::spawn(conn);
                        Some(c)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, changes = changes.len(), "cannot announce positions to other nodes");
                        None
                    }
                };
            }
            let Some(c) = &client else { continue };
            if let Err(e) = announce(c, &origin, &changes).await {
                tracing::warn!(error = %e, "announcing positions failed");
                client = None;
            }
        }
    });
    tx
}

/// Connects, listens, and forwards other origins' changes to the returned
/// receiver until it is dropped. Returns once the first `LISTEN` is in place,
/// so that nothing committed after this call is missed.
pub(crate) async fn listen(config: Config, own: String) -> Result<mpsc::Receiver<Change>> {
    let (tx, rx) = mpsc::channel(16_384);
    let first = connect(&config, tx.clone(), own.clone()).await?;
    tokio::spawn(async move {
        let mut ended = first;
        loop {
            let _ = ended.await;
            if tx.is_closed() {
                return;
            }
            tracing::warn!("change feed from postgres interrupted; reconnecting");
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if tx.is_closed() {
                    return;
                }
                match connect(&config, tx.clone(), own.clone()).await {
                    Ok(next) => {
                        ended = next;
                        break;
                    }
                    Err(e) => tracing::warn!(error = %e, "change feed: cannot reconnect yet"),
                }
            }
            if tx.send(Change::Resync).await.is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// One listening connection; the returned task ends when it breaks.
async fn connect(
    config: &Config,
    tx: mpsc::Sender<Change>,
    own: String,
) -> Result<tokio::task::JoinHandle<()>> {
    let (client, mut conn) = config.connect(NoTls).await.map_err(backend)?;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<tokio_postgres::Client>();
    let task = tokio::spawn(async move {
        // The client must live as long as the connection is polled.
        let mut client = None;
        let mut ready_rx = Some(ready_rx);
        loop {
            let msg = std::future::poll_fn(|cx| conn.poll_message(cx)).await;
            if client.is_none()
                && let Some(r) = ready_rx.as_mut()
                && let Ok(c) = r.try_recv()
            {
                client = Some(c);
                ready_rx = None;
            }
            match msg {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    for c in decode(&own, n.payload()) {
                        if tx.send(c).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "change feed connection failed");
                    return;
                }
                None => return,
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(backend)?;
    let _ = ready_tx.send(client);
    Ok(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_split_and_skip_their_origin() {
        let fixes: Vec<PositionFix> = (0..300)
            .map(|i| PositionFix {
                volunteer: VolunteerId(Uuid::from_u128(i)),
                position: LatLon::new(55.6 + f64::from(i as u32) * 1e-4, 12.5).unwrap(),
                at_unix: 1_800_000_000 + i as u32,
            })
            .collect();
        let a = AedId(Uuid::from_u128(7));
        let changes = vec![
            Change::Positions(fixes.clone()),
            Change::Aed(a),
            Change::Mission(IncidentId(Uuid::from_u128(9))),
        ];
        let payloads = encode("n1", &changes);
        assert!(
            payloads.len() > 1,
            "300 positions need more than one notification"
        );
        assert!(payloads.iter().all(|p| p.len() <= MAX_PAYLOAD));
        let mut got_fixes = Vec::new();
        let mut others = Vec::new();
        for p in &payloads {
            assert!(decode("n1", p).is_empty(), "a node ignores its own changes");
            for c in decode("n2", p) {
                match c {
                    Change::Positions(f) => got_fixes.extend(f),
                    c => others.push(c),
                }
            }
        }
        assert_eq!(got_fixes, fixes);
        assert_eq!(
            others,
            vec![
                Change::Aed(a),
                Change::Mission(IncidentId(Uuid::from_u128(9)))
            ]
        );
        assert_eq!(
            decode(
                "n2",
                "n1;p:zz:1:2:3;q:00000000000000000000000000000001;v:nonsense"
            ),
            vec![]
        );
    }
}
