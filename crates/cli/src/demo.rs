//! `firstlink demo`: the server, seeded with a demo region of central
//! Copenhagen on real OpenStreetMap data, and a few thousand simulated
//! volunteers who move, answer alerts and walk their tasks.
//!
//! The simulated phones receive their notifications in-process (devices of
//! kind `demo`) and answer through the same mission runtime the HTTP API uses.
//! Everything is stored, so a restart on the same data directory carries on
//! with the same region, keys, volunteers and incidents.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use firstlink_domain::aed::{AedAccess, Readiness};
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::{AedId, IncidentId, VolunteerId};
use firstlink_domain::incident::{LocationType, NewIncident};
use firstlink_domain::mission::{AcceptReply, Input, Progress};
use firstlink_domain::volunteer::Tier;
use firstlink_server::api::admin::{NewRegion, create_key_checked, create_region_checked};
use firstlink_server::auth::{hash_password, random_secret};
use firstlink_server::outbox::LocalSink;
use firstlink_server::{App, Config};
use firstlink_store::{
    Aed, AedDetails, AedStatus, Device, Operator, OperatorRole, OutboxMessage, PositionFix,
    Recipient, Volunteer,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Central Copenhagen, © OpenStreetMap contributors (ODbL); see data/osm/README.md.
static COPENHAGEN_PBF: &[u8] = include_bytes!("../../../data/osm/copenhagen.osm.pbf");

const REGION: &str = "copenhagen";
/// AED cabinets of the demo with a (simulated) monitoring unit.
const DEMO_UNITS: usize = 40;

#[derive(Serialize, Deserialize)]
struct Credentials {
    admin_password: String,
    dispatcher_password: String,
    dispatch_api_key: String,
    volunteer_email: String,
    volunteer_password: String,
}

/// What the demo takes from the map.
pub struct DemoMap {
    /// Points on walkable ways.
    pub walk_points: Vec<LatLon>,
    /// Public places where an AED plausibly hangs: (name, kind, position).
    pub places: Vec<(String, String, LatLon)>,
}

/// Reads walkable points and public places from an OSM PBF.
pub fn read_map(pbf: &[u8]) -> anyhow::Result<DemoMap> {
    use osmpbf::{Element, ElementReader};
    let mut coords: HashMap<i64, (f64, f64)> = HashMap::new();
    let mut ways: Vec<Vec<i64>> = Vec::new();
    let mut places = Vec::new();
    const WALK: [&str; 12] = [
        "footway",
        "path",
        "pedestrian",
        "residential",
        "living_street",
        "service",
        "tertiary",
        "secondary",
        "unclassified",
        "steps",
        "cycleway",
        "primary",
    ];
    let place_kind =
        |tags: &mut dyn Iterator<Item = (&str, &str)>| -> (Option<String>, Option<String>) {
            let (mut kind, mut name) = (None, None);
            for (k, v) in tags {
                match (k, v) {
                    (
                        "amenity",
                        "pharmacy" | "townhall" | "library" | "school" | "university" | "police"
                        | "fire_station" | "community_centre" | "theatre" | "cinema",
                    )
                    | ("railway", "station")
                    | ("shop", "supermarket")
                    | ("leisure", "sports_centre" | "fitness_centre" | "stadium")
                    | ("tourism", "hotel" | "museum") => kind = Some(v.to_string()),
                    ("name", n) => name = Some(n.to_string()),
                    _ => {}
                }
            }
            (kind, name)
        };
    ElementReader::new(Cursor::new(pbf)).for_each(|el| match el {
        Element::DenseNode(n) => {
            coords.insert(n.id(), (n.lat(), n.lon()));
            if let (Some(kind), Some(name)) = place_kind(&mut n.tags()) {
                places.push((name, kind, n.id()));
            }
        }
        Element::Node(n) => {
            coords.insert(n.id(), (n.lat(), n.lon()));
            if let (Some(kind), Some(name)) = place_kind(&mut n.tags()) {
                places.push((name, kind, n.id()));
            }
        }
        Element::Way(w) => {
            let walkable = w.tags().any(|(k, v)| k == "highway" && WALK.contains(&v));
            if walkable {
                ways.push(w.refs().collect());
            } else if let (Some(kind), Some(name)) = place_kind(&mut w.tags())
                && let Some(first) = w.refs().next()
            {
                places.push((name, kind, first));
            }
        }
        Element::Relation(_) => {}
    })?;
    let mut walk_points: Vec<LatLon> = ways
        .iter()
        .flatten()
        .filter_map(|id| coords.get(id))
        .map(|&(lat, lon)| LatLon { lat, lon })
        .collect();
    walk_points.sort_by(|a, b| a.lat.total_cmp(&b.lat).then(a.lon.total_cmp(&b.lon)));
    walk_points.dedup();
    let mut places: Vec<(String, String, LatLon)> = places
        .into_iter()
        .filter_map(|(name, kind, id)| {
            coords
                .get(&id)
                .map(|&(lat, lon)| (name, kind, LatLon { lat, lon }))
        })
        .collect();
    places.sort_by(|a, b| a.0.cmp(&b.0));
    places.dedup_by(|a, b| a.0 == b.0);
    anyhow::ensure!(!walk_points.is_empty(), "the demo map has no walkable ways");
    Ok(DemoMap {
        walk_points,
        places,
    })
}

fn hours_for(kind: &str) -> &'static str {
    match kind {
        "pharmacy" => "Mo-Fr 09:00-19:00; Sa 10:00-16:00; PH off",
        "school" | "university" => "Mo-Fr 07:30-17:00; PH off",
        "library" => "Mo-Th 10:00-20:00; Fr 10:00-18:00; Sa-Su 10:00-16:00",
        "supermarket" => "Mo-Su 07:00-22:00",
        "townhall" => "Mo-Fr 09:00-16:00; PH off",
        "sports_centre" | "fitness_centre" | "stadium" => "Mo-Fr 06:00-22:00; Sa-Su 08:00-20:00",
        "theatre" | "cinema" | "museum" => "Tu-Su 10:00-22:00",
        _ => "24/7",
    }
}

const FIRST: [&str; 16] = [
    "Anna", "Mads", "Sofie", "Frederik", "Emma", "Lucas", "Ida", "Oliver", "Freja", "William",
    "Clara", "Noah", "Maja", "Emil", "Laura", "Victor",
];
const LAST: [&str; 10] = [
    "Jensen",
    "Nielsen",
    "Hansen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Jørgensen",
];

async fn seed(
    app: &Arc<App>,
    map: &DemoMap,
    n: usize,
    creds_path: &Path,
) -> anyhow::Result<Credentials> {
    let region = create_region_checked(
        app,
        NewRegion {
            slug: REGION.into(),
            name: "Copenhagen (demo)".into(),
            timezone: "Europe/Copenhagen".into(),
            country: "DK".into(),
            preset: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the demo region: {}", e.message))?;
    firstlink_server::changes::apply(app, vec![firstlink_store::Change::Graph(region.id)]).await;
    let (_, key) = create_key_checked(app, region.id, "demo CAD")
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let creds = Credentials {
        admin_password: random_secret()[..16].to_string(),
        dispatcher_password: random_secret()[..16].to_string(),
        dispatch_api_key: key,
        volunteer_email: "volunteer@demo.firstlink.invalid".into(),
        volunteer_password: random_secret()[..16].to_string(),
    };
    let now = app.now();
    for (username, role, pw) in [
        ("admin", OperatorRole::Admin, &creds.admin_password),
        (
            "dispatcher",
            OperatorRole::Dispatcher,
            &creds.dispatcher_password,
        ),
    ] {
        app.store
            .create_operator(&Operator {
                id: uuid::Uuid::now_v7(),
                username: username.into(),
                password_hash: hash_password(pw)?,
                role,
                regions: vec![region.id],
                created_at: now,
                disabled_at: None,
            })
            .await?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    // The human demo volunteer, for the volunteer app.
    let human = Volunteer {
        id: VolunteerId::new(),
        region_id: region.id,
        name: "Demo Volunteer".into(),
        phone: None,
        email: Some(creds.volunteer_email.clone()),
        password_hash: hash_password(&creds.volunteer_password)?,
        language: "en".into(),
        languages: vec!["en".into(), "da".into()],
        birth_date: NaiveDate::from_ymd_opt(1990, 5, 17).unwrap_or_default(),
        tier: Tier::IncludingHomes,
        training_kind: Some("BLS/AED".into()),
        training_date: NaiveDate::from_ymd_opt(2026, 3, 1),
        consent_at: Some(now),
        verified_at: Some(now),
        suspended_at: None,
        available: true,
        quiet: None,
        created_at: now,
    };
    app.store.create_volunteer(&human).await?;
    firstlink_server::changes::apply(app, vec![firstlink_store::Change::Volunteer(human.id)]).await;
    // Simulated volunteers: one shared password hash that nobody knows.
    let unusable = hash_password(&random_secret())?;
    let mut fixes = Vec::with_capacity(n);
    for i in 0..n {
        let first = FIRST[rng.gen_range(0..FIRST.len())];
        let last = LAST[rng.gen_range(0..LAST.len())];
        let v = Volunteer {
            id: VolunteerId::new(),
            region_id: region.id,
            name: format!("{first} {last}"),
            phone: Some(format!("+4520{:06}", i)),
            email: None,
            password_hash: unusable.clone(),
            language: if rng.gen_bool(0.85) {
                "da".into()
            } else {
                "en".into()
            },
            languages: vec!["da".into()],
            birth_date: NaiveDate::from_ymd_opt(
                rng.gen_range(1950..2005),
                rng.gen_range(1..13),
                rng.gen_range(1..29),
            )
            .unwrap_or_default(),
            tier: if rng.gen_bool(0.7) {
                Tier::IncludingHomes
            } else {
                Tier::PublicOnly
            },
            training_kind: Some("first aid with CPR".into()),
            training_date: NaiveDate::from_ymd_opt(
                rng.gen_range(2022..2027),
                rng.gen_range(1..11),
                1,
            ),
            consent_at: Some(now),
            verified_at: Some(now),
            suspended_at: None,
            available: rng.gen_bool(0.7),
            quiet: if rng.gen_bool(0.3) {
                firstlink_domain::volunteer::QuietHours::new(23 * 60, 7 * 60)
            } else {
                None
            },
            created_at: now,
        };
        app.store.create_volunteer(&v).await?;
        app.store
            .add_device(&Device {
                id: uuid::Uuid::now_v7(),
                volunteer: v.id,
                recipient: Recipient::Demo,
                created_at: now,
            })
            .await?;
        firstlink_server::changes::apply(app, vec![firstlink_store::Change::Volunteer(v.id)]).await;
        let p = map.walk_points[rng.gen_range(0..map.walk_points.len())];
        fixes.push(PositionFix {
            volunteer: v.id,
            position: p,
            at_unix: now.timestamp() as u32,
        });
    }
    app.store.save_positions(&fixes).await?;
    firstlink_server::changes::apply(app, vec![firstlink_store::Change::Positions(fixes)]).await;
    for (i, (name, kind, pos)) in map
        .places
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .take(200)
    {
        let locked = kind == "railway" || i % 5 == 0;
        let aed = Aed {
            id: AedId::new(),
            region_id: region.id,
            name: format!("{name} AED"),
            position: *pos,
            access: AedAccess::Public,
            opening_hours: Some(hours_for(kind).into()),
            readiness: Readiness::Unmonitored,
            status: AedStatus::Active,
            details: AedDetails {
                indoor: Some(hours_for(kind) != "24/7"),
                level: Some("0".into()),
                location_desc: vec![
                    ("en".into(), format!("By the main entrance of {name}")),
                    ("da".into(), format!("Ved hovedindgangen til {name}")),
                ],
                locked: Some(locked),
                access_code: locked.then(|| format!("{:04}", rng.gen_range(0..10_000))),
                owner_contact: Some(format!("facility manager, {name}")),
                source: Some("demo".into()),
                source_id: Some(format!("demo-{i}")),
                ..Default::default()
            },
            updated_at: now,
        };
        app.store.upsert_aed(&aed).await?;
        firstlink_server::changes::apply(app, vec![firstlink_store::Change::Aed(aed.id)]).await;
    }
    std::fs::write(creds_path, serde_json::to_vec_pretty(&creds)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(creds_path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(creds)
}

/// A simulated volunteer's phone and legs.
enum SimState {
    Pending {
        incident: IncidentId,
        at: chrono::DateTime<Utc>,
        accept: bool,
    },
    Walking {
        incident: IncidentId,
        legs: Vec<(LatLon, Progress)>,
    },
}

struct Sim {
    app: Arc<App>,
    /// The simulated volunteers (not the human demo account).
    ids: Vec<VolunteerId>,
    rng: Mutex<ChaCha8Rng>,
    states: Mutex<HashMap<VolunteerId, SimState>>,
    speeds: Mutex<HashMap<VolunteerId, f64>>,
}

struct Sink(mpsc::UnboundedSender<(VolunteerId, String, Option<IncidentId>)>);

impl LocalSink for Sink {
    fn deliver(&self, volunteer: VolunteerId, m: &OutboxMessage) {
        let _ = self.0.send((volunteer, m.kind.clone(), m.incident));
    }
}

impl Sim {
    fn speed(&self, v: VolunteerId) -> f64 {
        let mut s = self.speeds.lock().unwrap_or_else(|e| e.into_inner());
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        // Median 2.3 m/s, IQR about 1.4–4.0 (domain.md): log-normal.
        *s.entry(v).or_insert_with(|| {
            (2.3f64.ln() + 0.78 * normal(&mut *rng))
                .exp()
                .clamp(0.9, 6.0)
        })
    }

    fn on_notification(&self, v: VolunteerId, kind: &str, incident: Option<IncidentId>) {
        let mut st = self.states.lock().unwrap_or_else(|e| e.into_inner());
        match (kind, incident) {
            ("alert", Some(incident)) => {
                let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
                // Denmark 2017–2022: 35 % of alerts accepted; about as many never answered.
                let r: f64 = rng.r#gen();
                if r < 0.35 || r < 0.65 {
                    let delay = rng.gen_range(8..60);
                    st.insert(
                        v,
                        SimState::Pending {
                            incident,
                            at: Utc::now() + chrono::Duration::seconds(delay),
                            accept: r < 0.35,
                        },
                    );
                }
            }
            ("stand_down" | "ended" | "cancelled" | "out_of_range", _) => {
                st.remove(&v);
            }
            _ => {}
        }
    }

    async fn step(&self, dt: f64) {
        let now = Utc::now();
        let due: Vec<(VolunteerId, IncidentId, bool)> = {
            let st = self.states.lock().unwrap_or_else(|e| e.into_inner());
            st.iter()
                .filter_map(|(v, s)| match s {
                    SimState::Pending {
                        incident,
                        at,
                        accept,
                    } if *at <= now => Some((*v, *incident, *accept)),
                    _ => None,
                })
                .collect()
        };
        for (v, incident, accept) in due {
            self.states
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&v);
            let input = if accept {
                Input::Accept {
                    volunteer: v,
                    position: None,
                }
            } else {
                Input::Decline { volunteer: v }
            };
            let Ok((_, m, out)) = self.app.missions.input(&self.app, incident, input).await else {
                continue;
            };
            if let Some(AcceptReply::Accepted { task }) = out.accept {
                let mut legs = Vec::new();
                if let Some(aed) = &task.aed {
                    legs.push((aed.position, Progress::AedCollected));
                }
                legs.push((m.incident.location, Progress::OnScene));
                self.states
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(v, SimState::Walking { incident, legs });
                let _ = self
                    .app
                    .missions
                    .input(
                        &self.app,
                        incident,
                        Input::Progress {
                            volunteer: v,
                            progress: Progress::EnRoute,
                        },
                    )
                    .await;
            }
        }
        // Walk.
        let walkers: Vec<(VolunteerId, IncidentId, LatLon, Progress)> = {
            let st = self.states.lock().unwrap_or_else(|e| e.into_inner());
            st.iter()
                .filter_map(|(v, s)| match s {
                    SimState::Walking { incident, legs } => {
                        legs.first().map(|l| (*v, *incident, l.0, l.1))
                    }
                    _ => None,
                })
                .collect()
        };
        let mut fixes = Vec::new();
        for (v, incident, target, progress) in walkers {
            let Some((pos, _)) = self.app.index().position(v) else {
                continue;
            };
            let d = pos.distance_m(target);
            let step = self.speed(v) * dt;
            if d <= step.max(5.0) {
                fixes.push(PositionFix {
                    volunteer: v,
                    position: target,
                    at_unix: now.timestamp() as u32,
                });
                let _ = self
                    .app
                    .missions
                    .input(
                        &self.app,
                        incident,
                        Input::Progress {
                            volunteer: v,
                            progress,
                        },
                    )
                    .await;
                let mut st = self.states.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(SimState::Walking { legs, .. }) = st.get_mut(&v) {
                    legs.remove(0);
                    if legs.is_empty() {
                        st.remove(&v);
                    }
                }
            } else {
                let f = step / d;
                let p = LatLon {
                    lat: pos.lat + (target.lat - pos.lat) * f,
                    lon: pos.lon + (target.lon - pos.lon) * f,
                };
                fixes.push(PositionFix {
                    volunteer: v,
                    position: p,
                    at_unix: now.timestamp() as u32,
                });
            }
        }
        self.save(fixes).await;
    }

    async fn save(&self, fixes: Vec<PositionFix>) {
        if fixes.is_empty() {
            return;
        }
        if let Err(e) = self.app.store.save_positions(&fixes).await {
            tracing::warn!(error = %e, "demo: could not store positions");
            return;
        }
        firstlink_server::changes::apply(
            &self.app,
            vec![firstlink_store::Change::Positions(fixes)],
        )
        .await;
    }

    /// Some idle volunteers move about town; everyone refreshes their fix now and then.
    async fn drift(&self, map: &DemoMap) {
        let now = Utc::now().timestamp() as u32;
        let ids: Vec<(VolunteerId, LatLon, u32)> = {
            let idx = self.app.index();
            let st = self.states.lock().unwrap_or_else(|e| e.into_inner());
            self.ids
                .iter()
                .copied()
                .filter(|v| !st.contains_key(v) && !idx.is_busy(*v))
                .filter_map(|v| idx.position(v).map(|(p, at)| (v, p, at)))
                .collect()
        };
        let mut fixes = Vec::new();
        {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            for (v, p, at) in ids {
                if rng.gen_bool(0.03) {
                    for _ in 0..20 {
                        let q = map.walk_points[rng.gen_range(0..map.walk_points.len())];
                        if q.distance_m(p) < 400.0 {
                            fixes.push(PositionFix {
                                volunteer: v,
                                position: q,
                                at_unix: now,
                            });
                            break;
                        }
                    }
                } else if now.saturating_sub(at) > 30 * 60 {
                    fixes.push(PositionFix {
                        volunteer: v,
                        position: p,
                        at_unix: now,
                    });
                }
            }
        }
        self.save(fixes).await;
    }
}

fn normal(rng: &mut impl Rng) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[allow(clippy::too_many_arguments)]
fn banner(
    addr: std::net::SocketAddr,
    mqtt: Option<std::net::SocketAddr>,
    creds: &Credentials,
    volunteers: usize,
    aeds: usize,
    every: u64,
    units: usize,
) {
    let base = format!("http://{addr}");
    println!();
    println!("firstlink demo: central Copenhagen, {volunteers} simulated volunteers, {aeds} AEDs");
    println!("  map data © OpenStreetMap contributors (ODbL)");
    println!("  server:        {base}");
    println!("  health:        {base}/health");
    println!("  API reference: {base}/api/v1/openapi.json");
    if let Some(m) = mqtt {
        println!("  MQTT (units):  mqtt://{m}");
    }
    println!(
        "  console:       {base}/console/   (user admin / {}, or dispatcher / {})",
        creds.admin_password, creds.dispatcher_password
    );
    println!(
        "  volunteer app: {base}/app/       ({} / {})",
        creds.volunteer_email, creds.volunteer_password
    );
    if every > 0 {
        println!("  a training incident is posted every {every} s");
    }
    if units > 0 {
        println!(
            "  {units} AED cabinets report readiness over MQTT (simulated units; about one in six develops a fault)"
        );
    }
    println!("dispatch-api-key: {}", creds.dispatch_api_key);
    println!();
    println!("Try it:");
    println!("  KEY={}", creds.dispatch_api_key);
    println!(
        "  curl -s -X POST {base}/api/v1/incidents -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' \\\n    -d '{{\"external_id\":\"cad-1\",\"location\":{{\"lat\":55.6786,\"lon\":12.5790}},\"address\":\"Frederiksberggade 1\",\"reported_at\":\"'$(date -u +%FT%TZ)'\",\"location_type\":\"public\",\"ems_eta_seconds\":540}}'"
    );
    println!("  curl -s {base}/api/v1/incidents/<id> -H \"Authorization: Bearer $KEY\"");
    println!();
}

/// Posts a training incident at a random walkable point.
async fn auto_incident(app: &Arc<App>, map: &DemoMap, rng: &mut ChaCha8Rng, n: u64) {
    let Some(region) = app.region_by_slug(REGION) else {
        return;
    };
    let p = map.walk_points[rng.gen_range(0..map.walk_points.len())];
    let inc = NewIncident {
        external_id: format!("demo-{}-{n}", Utc::now().timestamp()),
        location: p,
        address: format!("Demo address {n}, København"),
        reported_at: Utc::now(),
        location_type: if rng.gen_bool(0.7) {
            LocationType::Residence
        } else {
            LocationType::Public
        },
        ems_eta_seconds: Some(rng.gen_range(360..900)),
        exclusions: vec![],
        notes: Some("Training alert from the demo".into()),
        test: true,
    };
    if let Err(e) = app.missions.create(app, region.region.id, inc).await {
        tracing::warn!(error = %e, "demo: could not post a training incident");
    }
}

/// Ends missions whose ambulance has arrived.
async fn hand_over(app: &Arc<App>) {
    let now = Utc::now();
    for (_, m) in app.missions.live().await {
        let due = m
            .ems_eta_at
            .unwrap_or(m.created_at + chrono::Duration::minutes(12))
            + chrono::Duration::seconds(60);
        if now >= due {
            let _ = app
                .missions
                .input(
                    app,
                    m.id,
                    Input::End {
                        reason: Some("ambulance on scene".into()),
                    },
                )
                .await;
        }
    }
}

/// With `--listen` on port 0 (any free port), the embedded MQTT endpoint
/// takes any free port too, unless `monitor.broker_listen` was set to
/// something other than its default: so that demos run side by side.
pub fn free_ports_together(config: &mut Config) {
    let any_port = config
        .listen
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.port() == 0);
    let default = firstlink_server::config::MonitorConfig::default().broker_listen;
    if any_port
        && config.monitor.broker_listen == default
        && let Ok(mut b) = config.monitor.broker_listen.parse::<std::net::SocketAddr>()
    {
        b.set_port(0);
        config.monitor.broker_listen = b.to_string();
    }
}

pub async fn run(mut config: Config, volunteers: usize, incident_every: u64) -> anyhow::Result<()> {
    free_ports_together(&mut config);
    let creds_path = config.data_dir.join("demo-credentials.json");
    // The demo region walks on the real street network.
    let graph = config.data_dir.join("graphs").join(format!("{REGION}.flg"));
    if !graph.exists() {
        let pbf = config.data_dir.join("copenhagen.osm.pbf");
        std::fs::create_dir_all(&config.data_dir)?;
        std::fs::write(&pbf, COPENHAGEN_PBF)?;
        crate::build_graph(&pbf, &graph, true)?;
    }
    let app = firstlink_server::build(config)?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    *app.local_sink.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Sink(tx)));
    firstlink_server::launch(&app).await?;
    let map = Arc::new(read_map(COPENHAGEN_PBF)?);
    let creds: Credentials = if app.region_by_slug(REGION).is_some() {
        let bytes = std::fs::read(&creds_path).map_err(|e| {
            anyhow::anyhow!("{} exists without {}: {e}", REGION, creds_path.display())
        })?;
        serde_json::from_slice(&bytes)?
    } else {
        println!("seeding the demo region (first start on this data directory)…");
        seed(&app, &map, volunteers, &creds_path).await?
    };
    let region = app
        .region_by_slug(REGION)
        .ok_or_else(|| anyhow::anyhow!("demo region missing"))?;
    let ids: Vec<VolunteerId> = app
        .store
        .volunteers(Some(region.region.id), None, u32::MAX)
        .await?
        .into_iter()
        .filter(|v| v.email.is_none())
        .map(|v| v.id)
        .collect();
    let n_vol = ids.len();
    let n_aed = app.aeds().all(Some(region.region.id)).count();
    let sim = Arc::new(Sim {
        app: Arc::clone(&app),
        ids,
        rng: Mutex::new(ChaCha8Rng::from_entropy()),
        states: Mutex::new(HashMap::new()),
        speeds: Mutex::new(HashMap::new()),
    });
    {
        let sim = Arc::clone(&sim);
        tokio::spawn(async move {
            while let Some((v, kind, incident)) = rx.recv().await {
                sim.on_notification(v, &kind, incident);
            }
        });
    }
    {
        let sim = Arc::clone(&sim);
        let map = Arc::clone(&map);
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut rng = ChaCha8Rng::from_entropy();
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                n += 1;
                sim.step(1.0).await;
                if n.is_multiple_of(30) {
                    sim.drift(&map).await;
                    hand_over(&app).await;
                }
                if incident_every > 0 && n % incident_every == 5 {
                    auto_incident(&app, &map, &mut rng, n).await;
                }
            }
        });
    }
    let n_units = monitor_demo(&app, &region.region.slug).await?;
    let mqtt = app.monitor.broker_addr();
    firstlink_server::serve(app, |addr| {
        banner(addr, mqtt, &creds, n_vol, n_aed, incident_every, n_units)
    })
    .await
}

/// Monitoring units in some of the demo's AED cabinets (provisioned on first
/// start), simulated in-process against the embedded MQTT endpoint; about
/// one in six develops a fault.
async fn monitor_demo(app: &Arc<App>, region: &str) -> anyhow::Result<usize> {
    let Some(addr) = app.monitor.broker_addr() else {
        return Ok(0);
    };
    let rt = app
        .region_by_slug(region)
        .ok_or_else(|| anyhow::anyhow!("demo region missing"))?;
    if app.monitor.units(Some(rt.region.id)).is_empty() {
        crate::devices::provision(app, region, Some(DEMO_UNITS), 60).await?;
    }
    let units: Vec<crate::devices::SimUnit> = app
        .monitor
        .units(Some(rt.region.id))
        .into_iter()
        .filter(|u| u.revoked_at.is_none())
        .enumerate()
        .filter_map(|(i, u)| {
            let aed = app.aeds().get(u.aed_id?)?.position;
            let creds = crate::devices::UnitCredentials {
                id: u.id,
                secret: app.monitor.key_for(&u).to_secret(),
                aed_id: u.aed_id,
                lat: aed.lat,
                lon: aed.lon,
            };
            crate::devices::SimUnit::new(creds, 1.0 / 6.0, i as u64)
        })
        .collect();
    let n = units.len();
    crate::devices::simulate(
        units,
        &addr.ip().to_string(),
        addr.port(),
        true,
        Duration::from_secs(60),
        false,
        None,
    )
    .await?;
    Ok(n)
}
