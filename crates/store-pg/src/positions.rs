//! Group commit for positions, the one high-rate write.
//!
//! Every `save_positions` call queues its fixes and waits; one task writes
//! whatever is queued with a single `INSERT … SELECT FROM UNNEST` (one
//! commit, one WAL flush for the lot), then answers every caller — nobody is
//! answered before the commit. While a batch is being written, the next one
//! gathers. Committed positions go to the announcer (see `changes`).

use std::collections::HashMap;

use firstlink_domain::ids::VolunteerId;
use firstlink_store::{Change, PositionFix, Result, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Config, NoTls};

use crate::backend;

/// At most this many callers share one commit.
const MAX_CALLERS: usize = 1_024;

pub(crate) struct Request {
    pub fixes: Vec<PositionFix>,
    pub done: oneshot::Sender<Result<()>>,
}

/// The newest fix per volunteer (later ones win ties), as if written in order.
pub(crate) fn newest(fixes: impl IntoIterator<Item = PositionFix>) -> Vec<PositionFix> {
    let mut best: HashMap<VolunteerId, PositionFix> = HashMap::new();
    for f in fixes {
        match best.get(&f.volunteer) {
            Some(b) if b.at_unix > f.at_unix => {}
            _ => {
                best.insert(f.volunteer, f);
            }
        }
    }
    best.into_values().collect()
}

/// Starts the writer on its own connection; it ends when the sender is dropped.
pub(crate) fn writer(
    config: Config,
    announce: mpsc::UnboundedSender<Change>,
) -> mpsc::UnboundedSender<Request> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Request>();
    tokio::spawn(async move {
        let mut client: Option<tokio_postgres::Client> = None;
        let mut queued = Vec::new();
        while rx.recv_many(&mut queued, MAX_CALLERS).await > 0 {
            let callers = std::mem::take(&mut queued);
            let fixes = newest(callers.iter().flat_map(|r| r.fixes.iter().copied()));
            let outcome = write(&config, &mut client, &fixes).await;
            let failure = outcome.as_ref().err().map(ToString::to_string);
            if outcome.is_ok() {
                let _ = announce.send(Change::Positions(fixes));
            } else {
                client = None;
            }
            for c in callers {
                let _ = c.done.send(match &failure {
                    None => Ok(()),
                    Some(e) => Err(StoreError::Backend(e.clone())),
                });
            }
        }
    });
    tx
}

async fn write(
    config: &Config,
    client: &mut Option<tokio_postgres::Client>,
    fixes: &[PositionFix],
) -> Result<()> {
    if client.as_ref().is_none_or(|c| c.is_closed()) {
        let (c, conn) = config.connect(NoTls).await.map_err(backend)?;
        tokio::spawn(conn);
        *client = Some(c);
    }
    let Some(c) = client.as_ref() else {
        return Err(StoreError::Closed);
    };
    let ids: Vec<_> = fixes.iter().map(|f| f.volunteer.0).collect();
    let lats: Vec<_> = fixes.iter().map(|f| f.position.lat).collect();
    let lons: Vec<_> = fixes.iter().map(|f| f.position.lon).collect();
    let ats: Vec<_> = fixes.iter().map(|f| i64::from(f.at_unix)).collect();
    c.execute(
        "INSERT INTO positions (volunteer_id, lat, lon, at_unix)
         SELECT * FROM UNNEST($1::uuid[], $2::float8[], $3::float8[], $4::int8[])
         ON CONFLICT (volunteer_id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, at_unix = excluded.at_unix
         WHERE excluded.at_unix >= positions.at_unix",
        &[&ids, &lats, &lons, &ats],
    )
    .await
    .map_err(backend)?;
    Ok(())
}
