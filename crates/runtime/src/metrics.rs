//! Prometheus metrics at `/metrics`: what an operator watches.

use std::sync::Mutex;

use firstlink_domain::mission::{Event, EventKind, Mission};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegionLabel {
    region: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabel {
    answer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabel {
    kind: String,
    failure: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    incidents: Family<RegionLabel, Counter>,
    first_alert: Histogram,
    answers: Family<AnswerLabel, Counter>,
    answer_delay: Histogram,
    delivered: Family<KindLabel, Counter>,
    failures: Family<DeliveryLabel, Counter>,
    alerts: Counter,
    pub volunteers: Gauge,
    pub positions: Gauge,
    pub live_missions: Gauge,
    pub outbox_pending: Gauge,
    pub position_updates: Counter,
    pub telemetry_accepted: Gauge,
    pub readiness_decisions: Gauge,
    telemetry_refused: Family<ReasonLabel, Gauge>,
    cluster_changes: Counter,
    cluster_apply: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut r = Registry::with_prefix("firstlink");
        let m = Self {
            incidents: Family::default(),
            first_alert: Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]),
            answers: Family::default(),
            answer_delay: Histogram::new([5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0]),
            delivered: Family::default(),
            failures: Family::default(),
            alerts: Counter::default(),
            volunteers: Gauge::default(),
            positions: Gauge::default(),
            live_missions: Gauge::default(),
            outbox_pending: Gauge::default(),
            position_updates: Counter::default(),
            telemetry_accepted: Gauge::default(),
            readiness_decisions: Gauge::default(),
            telemetry_refused: Family::default(),
            cluster_changes: Counter::default(),
            cluster_apply: Histogram::new([0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5]),
            registry: Mutex::new(Registry::default()),
        };
        r.register(
            "incidents_received",
            "Incidents received from dispatch centres",
            m.incidents.clone(),
        );
        r.register(
            "first_alert_seconds",
            "Time from an incident's arrival to its first alert accepted by a push provider",
            m.first_alert.clone(),
        );
        r.register("alerts", "Volunteers alerted", m.alerts.clone());
        r.register(
            "alert_answers",
            "Answers to alerts (accepted, declined, timed_out)",
            m.answers.clone(),
        );
        r.register(
            "answer_delay_seconds",
            "Time from alert to acceptance",
            m.answer_delay.clone(),
        );
        r.register(
            "notifications_delivered",
            "Notifications accepted by a provider",
            m.delivered.clone(),
        );
        r.register(
            "notification_failures",
            "Failed notification attempts",
            m.failures.clone(),
        );
        r.register(
            "volunteers_indexed",
            "Volunteers in the dispatch index",
            m.volunteers.clone(),
        );
        r.register(
            "positions_indexed",
            "Volunteers with a current position",
            m.positions.clone(),
        );
        r.register(
            "live_missions",
            "Missions in progress",
            m.live_missions.clone(),
        );
        r.register(
            "outbox_pending",
            "Notifications waiting to be sent",
            m.outbox_pending.clone(),
        );
        r.register(
            "position_updates",
            "Position updates received",
            m.position_updates.clone(),
        );
        r.register(
            "telemetry_accepted",
            "Monitoring unit messages accepted since start",
            m.telemetry_accepted.clone(),
        );
        r.register(
            "readiness_decisions",
            "Monitoring decisions recorded (readiness, tickets) since start",
            m.readiness_decisions.clone(),
        );
        r.register(
            "telemetry_refused",
            "Monitoring unit messages refused since start, by reason",
            m.telemetry_refused.clone(),
        );
        r.register(
            "cluster_change_batches",
            "Batches of other nodes' changes applied",
            m.cluster_changes.clone(),
        );
        r.register(
            "cluster_apply_seconds",
            "Time to apply a batch of other nodes' changes",
            m.cluster_apply.clone(),
        );
        *m.registry.lock().unwrap_or_else(|e| e.into_inner()) = r;
        m
    }
}

impl Metrics {
    pub fn cluster_apply(&self, took: std::time::Duration) {
        self.cluster_changes.inc();
        self.cluster_apply.observe(took.as_secs_f64());
    }

    pub fn incident_received(&self, region: &str) {
        self.incidents
            .get_or_create(&RegionLabel {
                region: region.to_string(),
            })
            .inc();
    }

    pub fn first_alert(&self, seconds: f64) {
        self.first_alert.observe(seconds);
    }

    pub fn delivered(&self, kind: &str) {
        self.delivered
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc();
    }

    pub fn delivery_failed(&self, kind: &str, failure: &str) {
        self.failures
            .get_or_create(&DeliveryLabel {
                kind: kind.to_string(),
                failure: failure.to_string(),
            })
            .inc();
    }

    /// Counts alerts, answers and answer delays from a mission's events.
    pub fn mission_event(&self, m: &Mission, e: &Event) {
        let answer = |a: &str| {
            self.answers
                .get_or_create(&AnswerLabel {
                    answer: a.to_string(),
                })
                .inc()
        };
        match &e.kind {
            EventKind::WaveSent { alerted, .. } => {
                self.alerts.inc_by(u64::from(*alerted));
            }
            EventKind::Accepted { volunteer, .. } => {
                answer("accepted");
                if let Some(a) = m.alert(*volunteer) {
                    self.answer_delay
                        .observe((e.at - a.alerted_at).num_milliseconds() as f64 / 1000.0);
                }
            }
            EventKind::Declined { .. } => {
                answer("declined");
            }
            EventKind::TimedOut { .. } => {
                answer("timed_out");
            }
            _ => {}
        }
    }

    /// Copies the monitoring counters in before a scrape.
    pub fn monitoring(&self, c: &crate::monitor::Counters) {
        use std::sync::atomic::Ordering::Relaxed;
        self.telemetry_accepted.set(c.accepted.load(Relaxed) as i64);
        self.readiness_decisions
            .set(c.transitions.load(Relaxed) as i64);
        for (reason, n) in c.rejected() {
            self.telemetry_refused
                .get_or_create(&ReasonLabel {
                    reason: reason.to_string(),
                })
                .set(n as i64);
        }
    }

    pub fn encode(&self) -> String {
        let mut s = String::new();
        let r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if prometheus_client::encoding::text::encode(&mut s, &r).is_err() {
            s.clear();
        }
        s
    }
}
