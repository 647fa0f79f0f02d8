//! A small pool of `tokio-postgres` connections.
//!
//! At most `size` connections are open at once; a caller waits for a free
//! one. A connection goes back to the pool when its guard is dropped unless
//! it has closed (server restart, network error): then the next caller
//! opens a fresh one. A transaction left unfinished (the caller's future was
//! dropped) is rolled back by `tokio_postgres::Transaction`'s drop, which
//! queues the ROLLBACK before any later use of the connection.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use firstlink_store::{Result, StoreError};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::{Client, Config, NoTls};

use crate::backend;

pub(crate) struct Pool {
    config: Config,
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
}

pub(crate) struct Conn<'a> {
    client: Option<Client>,
    pool: &'a Pool,
    _permit: SemaphorePermit<'a>,
}

impl Pool {
    pub(crate) fn new(config: Config, size: usize) -> Self {
        Self {
            config,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size.max(1)),
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// Opens a connection outside the pool (for migrations: closing it
    /// releases its session locks whatever happens to the caller).
    pub(crate) async fn connect(&self) -> Result<Client> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(backend)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "postgres connection ended");
            }
        });
        Ok(client)
    }

    /// A pooled connection: an idle one, or a new one while under the limit.
    pub(crate) async fn get(&self) -> Result<Conn<'_>> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let reused = {
            let mut idle = self.idle.lock().map_err(|_| StoreError::Closed)?;
            let mut found = None;
            while let Some(c) = idle.pop() {
                if !c.is_closed() {
                    found = Some(c);
                    break;
                }
            }
            found
        };
        let client = match reused {
            Some(c) => c,
            None => self.connect().await?,
        };
        Ok(Conn {
            client: Some(client),
            pool: self,
            _permit: permit,
        })
    }

    /// Closes the idle connections and refuses new callers.
    pub(crate) fn close(&self) {
        self.permits.close();
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

impl Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Present from construction until drop.
        self.client
            .as_ref()
            .unwrap_or_else(|| unreachable!("connection taken before drop"))
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .unwrap_or_else(|| unreachable!("connection taken before drop"))
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.client.take()
            && !c.is_closed()
            && !self.pool.permits.is_closed()
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push(c);
        }
    }
}
