//! The shared state of a running server and its start-up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use chrono::Utc;
use chrono_tz::Tz;
use firstlink_domain::clock::{Clock, SystemClock};
use firstlink_domain::geo::{StraightLine, WalkingEstimator};
use firstlink_domain::ids::IncidentId;
use firstlink_domain::ids::{RegionId, VolunteerId};
use firstlink_domain::index::{VolunteerFlags, VolunteerIndex};
use firstlink_domain::mission::Event;
use firstlink_routing::{Graph, GraphEstimator, Router};
use firstlink_store::{Region, Store, Volunteer};
use tokio::sync::broadcast;

use crate::aeds::AedRegistry;
use crate::auth::{RateLimiter, TokenCache};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::missions::Missions;
use crate::outbox::{LocalSink, Outbox};

/// A region as the runtime uses it.
#[derive(Clone)]
pub struct RegionRt {
    pub region: Region,
    pub tz: Tz,
    pub partition: Arc<crate::partition::PartitionRt>,
}

/// A mission event as published to live feeds.
#[derive(Debug, Clone)]
pub struct BusEvent {
    pub region: RegionId,
    pub incident: IncidentId,
    pub seq: u64,
    pub event: Event,
}

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Lock order when both are held: `index` first, then `aeds`.
    pub index: RwLock<VolunteerIndex>,
    pub aeds: RwLock<AedRegistry>,
    pub regions: RwLock<HashMap<RegionId, RegionRt>>,
    /// Pedestrian routers of the regions that have a graph.
    pub graphs: RwLock<HashMap<RegionId, Arc<GraphEstimator>>>,
    pub missions: Missions,
    pub cluster: crate::cluster::Cluster,
    pub monitor: crate::monitor::Monitor,
    pub outbox: Outbox,
    pub bus: broadcast::Sender<BusEvent>,
    pub tokens: TokenCache,
    pub limiter: RateLimiter,
    pub metrics: Metrics,
    pub local_sink: RwLock<Option<Arc<dyn LocalSink>>>,
    pub ready: AtomicBool,
    /// Test-only fault injection, from `FIRSTLINK_FAILPOINT`.
    pub failpoint: Option<String>,
    /// Held by [`crate::changes::apply`] while it re-reads rows: two applies
    /// never interleave, so a slower read of an older row can never land
    /// after a newer one.
    pub(crate) applying: tokio::sync::Mutex<()>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl App {
    pub fn new(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Arc<Self>> {
        let notifier = firstlink_notify::Notifier::new(config.notify.clone())
            .map_err(|e| anyhow::anyhow!("notification settings: {e}"))?;
        let (bus, _) = broadcast::channel(4_096);
        let node = crate::cluster::node_id(&config);
        Ok(Arc::new(Self {
            limiter: RateLimiter::new(config.public_rate_per_minute),
            outbox: Outbox::new(notifier, config.outbox.clone()),
            config,
            store,
            clock: Arc::new(SystemClock),
            index: RwLock::new(VolunteerIndex::new()),
            aeds: RwLock::new(AedRegistry::default()),
            regions: RwLock::new(HashMap::new()),
            graphs: RwLock::new(HashMap::new()),
            missions: Missions::default(),
            cluster: crate::cluster::Cluster::new(node),
            monitor: Default::default(),
            bus,
            tokens: TokenCache::default(),
            metrics: Metrics::default(),
            local_sink: RwLock::new(None),
            ready: AtomicBool::new(false),
            applying: tokio::sync::Mutex::new(()),
            failpoint: std::env::var("FIRSTLINK_FAILPOINT")
                .ok()
                .filter(|s| !s.is_empty()),
        }))
    }

    pub fn index(&self) -> std::sync::RwLockReadGuard<'_, VolunteerIndex> {
        read(&self.index)
    }

    pub fn index_mut(&self) -> std::sync::RwLockWriteGuard<'_, VolunteerIndex> {
        write(&self.index)
    }

    pub fn aeds(&self) -> std::sync::RwLockReadGuard<'_, AedRegistry> {
        read(&self.aeds)
    }

    pub fn aeds_mut(&self) -> std::sync::RwLockWriteGuard<'_, AedRegistry> {
        write(&self.aeds)
    }

    pub fn region(&self, id: RegionId) -> Option<RegionRt> {
        read(&self.regions).get(&id).cloned()
    }

    pub fn region_by_slug(&self, slug: &str) -> Option<RegionRt> {
        read(&self.regions)
            .values()
            .find(|r| r.region.slug == slug)
            .cloned()
    }

    pub fn regions(&self) -> Vec<RegionRt> {
        let mut v: Vec<_> = read(&self.regions).values().cloned().collect();
        v.sort_by(|a, b| a.region.slug.cmp(&b.region.slug));
        v
    }

    /// Replaces the runtime's copy of a region and its partition settings
    /// (only through [`crate::changes::apply`]).
    pub(crate) fn put_region(
        &self,
        r: Region,
        partition: crate::partition::Partition,
    ) -> anyhow::Result<()> {
        let tz: Tz = r
            .timezone
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown time zone {}", r.timezone))?;
        let partition = Arc::new(crate::partition::PartitionRt::from_settings(
            &r.slug, partition,
        ));
        write(&self.regions).insert(
            r.id,
            RegionRt {
                region: r,
                tz,
                partition,
            },
        );
        Ok(())
    }

    /// The regions whose volunteers and AEDs a mission of `region` may use:
    /// itself, and each neighbour where both sides named each other.
    pub fn dispatch_regions(&self, region: RegionId) -> Vec<RegionId> {
        let regions = read(&self.regions);
        let mut out = vec![region];
        if let Some(r) = regions.get(&region) {
            for n in &r.partition.settings.neighbours {
                if *n != region
                    && regions
                        .get(n)
                        .is_some_and(|o| o.partition.settings.neighbours.contains(&region))
                    && !out.contains(n)
                {
                    out.push(*n);
                }
            }
        }
        out
    }

    /// The walking estimator for a region's missions: its pedestrian graph
    /// when it has one (straight line for points off the graph), else
    /// straight line × the policy's detour factor.
    pub fn walk_for(&self, region: RegionId, detour_factor: f64) -> Arc<dyn WalkingEstimator> {
        match read(&self.graphs).get(&region) {
            Some(g) => Arc::clone(g) as Arc<dyn WalkingEstimator>,
            None => Arc::new(StraightLine { detour_factor }),
        }
    }

    /// The region's router, if it has a graph.
    pub fn router_for(&self, region: RegionId) -> Option<Arc<GraphEstimator>> {
        read(&self.graphs).get(&region).cloned()
    }

    /// Loads the region's graph file, if any. A broken file is an error:
    /// better to refuse to start than to dispatch on wrong distances silently.
    pub fn load_graph(&self, r: &Region) -> anyhow::Result<()> {
        let Some(path) = self.config.graph_path(&r.slug) else {
            return Ok(());
        };
        let t = std::time::Instant::now();
        let graph = Graph::load(&path)
            .map_err(|e| anyhow::anyhow!("graph {} for region {}: {e}", path.display(), r.slug))?;
        let (v, e) = (graph.num_vertices(), graph.num_edges());
        let est = GraphEstimator::with_fallback(
            Router::new(graph),
            StraightLine {
                detour_factor: r.policy.detour_factor,
            },
        );
        write(&self.graphs).insert(r.id, Arc::new(est));
        tracing::info!(region = %r.slug, vertices = v, edges = e, load_ms = t.elapsed().as_millis() as u64, "pedestrian graph loaded");
        Ok(())
    }

    /// What the index keeps of a volunteer's profile (its region included).
    pub fn flags_of(&self, v: &Volunteer) -> VolunteerFlags {
        let months = self
            .region(v.region_id)
            .map(|r| r.region.policy.training_valid_months)
            .unwrap_or(0);
        let e = firstlink_domain::volunteer::Eligibility {
            verified: v.verified_at.is_some(),
            consented: v.consent_at.is_some(),
            suspended: v.suspended_at.is_some(),
            available: v.available,
            training_date: v.training_date,
        };
        VolunteerFlags {
            eligible: e.eligible(self.clock.now().date_naive(), months),
            homes: v.tier == firstlink_domain::volunteer::Tier::IncludingHomes,
            quiet: v.quiet,
            region: Some(v.region_id),
        }
    }

    pub(crate) fn index_volunteer(&self, v: &Volunteer) {
        let f = self.flags_of(v);
        self.index_mut().upsert(v.id, f);
    }

    pub(crate) fn forget_volunteer(&self, id: VolunteerId) {
        self.index_mut().remove(id);
    }

    /// Loads regions, volunteers, positions, AEDs and claims from the store,
    /// then resumes live missions. The server reports ready afterwards.
    pub async fn load(self: &Arc<Self>) -> anyhow::Result<()> {
        for r in self.store.regions().await? {
            self.load_graph(&r)?;
            let p = crate::changes::stored_partition(self, r.id).await?;
            self.put_region(r, p)?;
        }
        let vols = self.store.volunteers(None, None, u32::MAX).await?;
        {
            let mut idx = self.index_mut();
            for v in &vols {
                let f = self.flags_of(v);
                idx.upsert(v.id, f);
            }
        }
        let retention = i64::from(self.config.position_retention_hours) * 3600;
        let cutoff = (self.clock.now().timestamp() - retention).max(0) as u32;
        let fixes = self.store.positions().await?;
        {
            let mut idx = self.index_mut();
            for f in fixes.iter().filter(|f| f.at_unix >= cutoff) {
                idx.set_position(f.volunteer, f.position, f.at_unix);
            }
        }
        let aeds = self.store.aeds(None).await?;
        let claims = self.store.claims().await?;
        let out_for_return: Vec<_> = aeds
            .iter()
            .filter_map(|a| Some((a.id, a.details.out_for_return?)))
            .collect();
        {
            let regions = read(&self.regions);
            let mut reg = self.aeds_mut();
            for a in aeds {
                if let Some(r) = regions.get(&a.region_id) {
                    reg.upsert(a, r.tz, &r.region.country);
                }
            }
            for c in claims {
                reg.claim(c.aed, c.incident, c.volunteer);
            }
            for (aed, o) in out_for_return {
                reg.set_out(
                    aed,
                    crate::aeds::OutForReturn {
                        incident: o.incident,
                        volunteer: o.volunteer,
                        since: o.since,
                    },
                );
            }
        }
        self.monitor.load(self).await?;
        self.missions.resume(self).await?;
        self.ready.store(true, Ordering::SeqCst);
        tracing::info!(
            volunteers = vols.len(),
            positions = self.index().positioned(),
            aeds = self.aeds().len(),
            live_missions = self.missions.live_count(),
            "state loaded"
        );
        Ok(())
    }

    /// Reads the regions and their partitions (for commands that use no
    /// other view).
    pub async fn load_regions(self: &Arc<Self>) -> anyhow::Result<()> {
        crate::changes::reload_regions(self).await
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn now(&self) -> chrono::DateTime<Utc> {
        self.clock.now()
    }
}
