//! One truth: whatever sequence of writes reaches the store — through this
//! server's handlers or from another process on the same SQLite file (what
//! `firstlink admin …`, `aeds import` and `devices provision` do) — the
//! running server's views end equal to those of a server that loads the
//! same database cold.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use firstlink_domain::ids::{AedId, RegionId, VolunteerId};
use firstlink_domain::index::CandidateFilter;
use firstlink_domain::volunteer::Tier;
use firstlink_server::app::App;
use firstlink_server::changes::apply;
use firstlink_server::partition::{self, Partition};
use firstlink_store::{Aed, AedStatus, Change, PositionFix, Store, Volunteer};
use proptest::prelude::*;
use support::*;

#[derive(Debug, Clone)]
enum Op {
    /// Create or update volunteer `i` (of region `r`).
    Volunteer {
        i: usize,
        r: usize,
        available: bool,
        homes: bool,
    },
    DeleteVolunteer(usize),
    /// A position for volunteer `i` (only the server itself writes positions).
    Position {
        i: usize,
        north_m: f64,
        east_m: f64,
    },
    Aed {
        j: usize,
        r: usize,
        east_m: f64,
        active: bool,
    },
    /// Region `r` names the other region as neighbour, or no one.
    Neighbour {
        r: usize,
        on: bool,
    },
}

fn op() -> impl Strategy<Value = (Op, bool)> {
    let op = prop_oneof![
        (0..6usize, 0..2usize, any::<bool>(), any::<bool>()).prop_map(
            |(i, r, available, homes)| Op::Volunteer {
                i,
                r,
                available,
                homes
            }
        ),
        (0..6usize).prop_map(Op::DeleteVolunteer),
        (0..6usize, -2_000.0..2_000.0f64, -2_000.0..2_000.0f64)
            .prop_map(|(i, north_m, east_m)| Op::Position { i, north_m, east_m }),
        (0..4usize, 0..2usize, -1_500.0..1_500.0f64, any::<bool>()).prop_map(
            |(j, r, east_m, active)| Op::Aed {
                j,
                r,
                east_m,
                active
            }
        ),
        (0..2usize, any::<bool>()).prop_map(|(r, on)| Op::Neighbour { r, on }),
    ];
    // The second member: written by another process rather than by the server.
    (op, any::<bool>())
}

struct World {
    regions: [RegionId; 2],
    vols: Vec<VolunteerId>,
    aeds: Vec<AedId>,
}

fn volunteer(id: VolunteerId, region: RegionId, available: bool, homes: bool) -> Volunteer {
    let now = Utc::now();
    Volunteer {
        id,
        region_id: region,
        name: "Prop".into(),
        phone: None,
        email: Some(format!("{}@example.org", id.0.simple())),
        password_hash: "x".into(),
        language: "en".into(),
        languages: vec!["en".into()],
        birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
        tier: if homes {
            Tier::IncludingHomes
        } else {
            Tier::PublicOnly
        },
        training_kind: Some("BLS".into()),
        training_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1),
        consent_at: Some(now),
        verified_at: Some(now),
        suspended_at: None,
        available,
        quiet: None,
        created_at: now,
    }
}

/// Runs one write: on the server's own path (store, then `apply`) or on
/// another store instance (and nothing else: the feed must bring it).
async fn write(app: &Arc<App>, other: &Arc<dyn Store>, w: &World, op: &Op, by_other: bool) {
    let store: &Arc<dyn Store> = if by_other { other } else { &app.store };
    let change = match op {
        Op::Volunteer {
            i,
            r,
            available,
            homes,
        } => {
            let id = w.vols[*i];
            // A volunteer keeps the region it signed up in.
            let region = match store.volunteer(id).await.unwrap() {
                Some(v) => v.region_id,
                None => w.regions[*r],
            };
            let v = volunteer(id, region, *available, *homes);
            if store.volunteer(id).await.unwrap().is_some() {
                store.update_volunteer(&v).await.unwrap();
            } else {
                store.create_volunteer(&v).await.unwrap();
            }
            Change::Volunteer(id)
        }
        Op::DeleteVolunteer(i) => {
            let _ = store.delete_volunteer(w.vols[*i]).await;
            Change::Volunteer(w.vols[*i])
        }
        Op::Position { i, north_m, east_m } => {
            let id = w.vols[*i];
            if app.store.volunteer(id).await.unwrap().is_none() {
                return;
            }
            let fix = PositionFix {
                volunteer: id,
                position: cph().offset(0.0, *north_m).offset(90.0, *east_m),
                at_unix: Utc::now().timestamp() as u32,
            };
            app.store
                .save_positions(std::slice::from_ref(&fix))
                .await
                .unwrap();
            apply(app, vec![Change::Positions(vec![fix])]).await;
            return;
        }
        Op::Aed {
            j,
            r,
            east_m,
            active,
        } => {
            let a = Aed {
                id: w.aeds[*j],
                region_id: w.regions[*r],
                name: format!("AED {j}"),
                position: cph().offset(90.0, *east_m),
                access: firstlink_domain::aed::AedAccess::Public,
                opening_hours: Some("24/7".into()),
                readiness: firstlink_domain::aed::Readiness::Unmonitored,
                status: if *active {
                    AedStatus::Active
                } else {
                    AedStatus::Removed
                },
                details: Default::default(),
                updated_at: Utc::now(),
            };
            store.upsert_aed(&a).await.unwrap();
            Change::Aed(a.id)
        }
        Op::Neighbour { r, on } => {
            let p = Partition {
                neighbours: if *on { vec![w.regions[1 - r]] } else { vec![] },
                ..Default::default()
            };
            partition::save(&**store, w.regions[*r], &p).await.unwrap();
            Change::Setting(partition::setting_key(w.regions[*r]))
        }
    };
    if !by_other {
        apply(app, vec![change]).await;
    }
}

/// Everything dispatch reads from the views, in a comparable form.
fn snapshot(app: &App, w: &World) -> String {
    let mut out = Vec::new();
    for r in app.regions() {
        out.push(format!(
            "region {} {:?} agreed={:?}",
            r.region.slug,
            r.partition.settings,
            app.dispatch_regions(r.region.id)
        ));
    }
    let idx = app.index();
    for v in &w.vols {
        out.push(format!(
            "vol {v} at {:?} of {:?}",
            idx.position(*v),
            idx.region_of(*v)
        ));
    }
    for &r in &w.regions {
        for homes in [false, true] {
            let f = CandidateFilter {
                fresh_since: 0,
                minute_of_day: 12 * 60,
                homes_required: homes,
                regions: idx.mask_of(&app.dispatch_regions(r)),
            };
            let mut found: Vec<_> = idx
                .nearest(cph(), 10_000.0, 100, &f, &|_| false)
                .into_iter()
                .map(|c| c.id)
                .collect();
            found.sort();
            out.push(format!("candidates of {r} homes={homes}: {found:?}"));
        }
    }
    drop(idx);
    let aeds = app.aeds();
    for &r in &w.regions {
        let mut usable: Vec<_> = aeds
            .usable_near_in(&app.dispatch_regions(r), cph(), 5_000.0, Utc::now(), None)
            .into_iter()
            .map(|a| (a.id, a.name, a.position))
            .collect();
        usable.sort_by_key(|a| a.0);
        out.push(format!("aeds of {r}: {usable:?}"));
    }
    out.join("\n")
}

fn check(ops: Vec<(Op, bool)>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let t = spawn_app().await;
        let (a, _) = t.region("east", fast_policy(Default::default())).await;
        let (b, _) = t.region("west", fast_policy(Default::default())).await;
        let w = World {
            regions: [a, b],
            vols: (0..6).map(|_| VolunteerId::new()).collect(),
            aeds: (0..4).map(|_| AedId::new()).collect(),
        };
        let other = firstlink_server::open_store(&t.app.config).unwrap();
        for (op, by_other) in &ops {
            write(&t.app, &other, &w, op, *by_other).await;
        }
        let cold = App::new(
            t.app.config.clone(),
            firstlink_server::open_store(&t.app.config).unwrap(),
        )
        .unwrap();
        cold.load().await.unwrap();
        let want = snapshot(&cold, &w);
        // The feed is tailed a few times a second.
        let mut live = snapshot(&t.app, &w);
        for _ in 0..40 {
            if live == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            live = snapshot(&t.app, &w);
        }
        assert_eq!(live, want, "after {ops:#?}");
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn any_writes_applied_live_equal_a_cold_load(ops in prop::collection::vec(op(), 1..25)) {
        check(ops);
    }
}
