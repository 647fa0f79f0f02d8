//! The storage test suite: what every backend must do, written once against
//! the `Store` trait. A backend's tests call [`run`] (or the single checks)
//! with a fresh, empty store; the SQLite backend runs it in
//! `tests/sqlite.rs`, another backend runs the same functions unchanged.

use chrono::{Duration, TimeZone, Utc};
use firstlink_domain::geo::LatLon;
use firstlink_domain::ids::{AedId, IncidentId, RegionId, VolunteerId};
use firstlink_domain::incident::{LocationType, NewIncident};
use firstlink_domain::mission::{Event, EventKind, Mission};
use firstlink_domain::policy::DispatchPolicy;
use firstlink_domain::volunteer::Tier;

use crate::*;

mod registry;
pub use registry::*;

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap()
}

async fn region(s: &dyn Store, slug: &str) -> Region {
    let r = Region {
        id: RegionId::new(),
        slug: slug.into(),
        name: slug.into(),
        timezone: "Europe/Copenhagen".into(),
        country: "DK".into(),
        policy: DispatchPolicy::firstlink(),
        created_at: t0(),
    };
    s.create_region(&r).await.unwrap();
    r
}

fn volunteer(region: RegionId, phone: &str) -> Volunteer {
    Volunteer {
        id: VolunteerId::new(),
        region_id: region,
        name: "Kim Larsen".into(),
        phone: Some(phone.into()),
        email: None,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$x$y".into(),
        language: "da".into(),
        languages: vec!["da".into(), "en".into()],
        birth_date: chrono::NaiveDate::from_ymd_opt(1980, 2, 29).unwrap(),
        tier: Tier::IncludingHomes,
        training_kind: Some("BLS".into()),
        training_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 15),
        consent_at: Some(t0()),
        verified_at: None,
        suspended_at: None,
        available: true,
        quiet: firstlink_domain::volunteer::QuietHours::new(1380, 420),
        created_at: t0(),
    }
}

fn mission(external: &str) -> Mission {
    let inc = NewIncident {
        external_id: external.into(),
        location: LatLon::new(55.68, 12.57).unwrap(),
        address: "Nørregade 1".into(),
        reported_at: t0(),
        location_type: LocationType::Residence,
        ems_eta_seconds: Some(600),
        exclusions: vec![],
        notes: Some("3rd floor".into()),
        test: false,
    };
    Mission::new(IncidentId::new(), inc, DispatchPolicy::firstlink(), t0())
}

fn step(region: RegionId, m: &Mission) -> MissionStep {
    MissionStep {
        region_id: region,
        mission: m.clone(),
        events: vec![],
        outbox: vec![],
        claims: vec![],
        releases: vec![],
        busy: vec![],
        free: vec![],
        base_version: 0,
        at: t0(),
    }
}

fn note(
    key: &str,
    v: VolunteerId,
    inc: Option<IncidentId>,
    at: chrono::DateTime<Utc>,
) -> NewOutbox {
    NewOutbox {
        dedupe_key: key.into(),
        volunteer: Some(v),
        incident: inc,
        recipient: None,
        message: OutboxMessage {
            id: key.into(),
            kind: "alert".into(),
            incident: inc,
            data: serde_json::json!({ "k": key }),
            urgent: true,
            ttl_seconds: 60,
        },
        not_before: at,
    }
}

/// Regions, keys, operators, sessions and settings round-trip; uniqueness holds.
pub async fn accounts(s: &dyn Store) {
    let r = region(s, "acc").await;
    assert!(matches!(
        s.create_region(&Region {
            id: RegionId::new(),
            ..r.clone()
        })
        .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.regions().await.unwrap(), vec![r.clone()]);
    let p = DispatchPolicy::hjertelober();
    s.update_policy(r.id, &p).await.unwrap();
    assert_eq!(s.regions().await.unwrap()[0].policy, p);
    assert!(matches!(
        s.update_policy(RegionId::new(), &p).await,
        Err(StoreError::NotFound)
    ));
    let k = ApiKey {
        id: "k1".into(),
        region_id: r.id,
        name: "cad".into(),
        hash: "h".into(),
        created_at: t0(),
        revoked_at: None,
    };
    s.create_api_key(&k).await.unwrap();
    assert_eq!(s.api_key("k1").await.unwrap(), Some(k.clone()));
    s.revoke_api_key("k1", t0()).await.unwrap();
    assert_eq!(
        s.api_key("k1").await.unwrap().unwrap().revoked_at,
        Some(t0())
    );
    assert!(s.api_key("nope").await.unwrap().is_none());
    let o = Operator {
        id: uuid::Uuid::now_v7(),
        username: "ann".into(),
        password_hash: "h".into(),
        role: OperatorRole::Dispatcher,
        regions: vec![r.id],
        created_at: t0(),
        disabled_at: None,
    };
    s.create_operator(&o).await.unwrap();
    assert!(matches!(
        s.create_operator(&Operator {
            id: uuid::Uuid::now_v7(),
            ..o.clone()
        })
        .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.operator_by_username("ann").await.unwrap(),
        Some(o.clone())
    );
    let sess = Session {
        token_hash: "abc".into(),
        kind: SessionKind::Operator,
        subject: o.id,
        created_at: t0(),
        expires_at: t0() + Duration::hours(1),
    };
    s.create_session(&sess).await.unwrap();
    assert_eq!(s.session("abc").await.unwrap(), Some(sess));
    s.delete_sessions_of(o.id).await.unwrap();
    assert!(s.session("abc").await.unwrap().is_none());
    s.set_setting("vapid", "one").await.unwrap();
    s.set_setting("vapid", "two").await.unwrap();
    assert_eq!(s.setting("vapid").await.unwrap().as_deref(), Some("two"));
}

/// Volunteers: contacts unique per region, every field round-trips; positions keep the newest.
pub async fn volunteers_and_positions(s: &dyn Store) {
    let r = region(s, "vol").await;
    let r2 = region(s, "vol2").await;
    let v = volunteer(r.id, "+4511111111");
    s.create_volunteer(&v).await.unwrap();
    assert_eq!(s.volunteer(v.id).await.unwrap(), Some(v.clone()));
    let dup = Volunteer {
        id: VolunteerId::new(),
        ..v.clone()
    };
    assert!(matches!(
        s.create_volunteer(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    s.create_volunteer(&Volunteer {
        id: VolunteerId::new(),
        region_id: r2.id,
        ..v.clone()
    })
    .await
    .unwrap();
    let found = s
        .volunteer_by_contact(r.id, Some("+4511111111"), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, v.id);
    let mut v2 = v.clone();
    v2.verified_at = Some(t0());
    v2.quiet = None;
    s.update_volunteer(&v2).await.unwrap();
    assert_eq!(s.volunteer(v.id).await.unwrap(), Some(v2));
    assert_eq!(
        s.volunteers(Some(r.id), Some("Larsen"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let p = LatLon::new(55.7, 12.5).unwrap();
    s.save_positions(&[PositionFix {
        volunteer: v.id,
        position: p,
        at_unix: 100,
    }])
    .await
    .unwrap();
    s.save_positions(&[PositionFix {
        volunteer: v.id,
        position: LatLon::new(1.0, 1.0).unwrap(),
        at_unix: 50,
    }])
    .await
    .unwrap();
    let got = s.positions().await.unwrap();
    assert_eq!(
        got,
        vec![PositionFix {
            volunteer: v.id,
            position: p,
            at_unix: 100
        }],
        "an older fix never overwrites a newer one"
    );
    assert_eq!(s.purge_positions(101).await.unwrap(), vec![v.id]);
    assert!(s.positions().await.unwrap().is_empty());
    s.set_verification(v.id, "hash", t0()).await.unwrap();
    let (h, _, n) = s.verification_attempt(v.id).await.unwrap().unwrap();
    assert_eq!((h.as_str(), n), ("hash", 1));
    assert_eq!(s.verification_attempt(v.id).await.unwrap().unwrap().2, 2);
    let d = Device {
        id: uuid::Uuid::now_v7(),
        volunteer: v.id,
        recipient: Recipient::Fcm { token: "t".into() },
        created_at: t0(),
    };
    s.add_device(&d).await.unwrap();
    s.add_device(&Device {
        id: uuid::Uuid::now_v7(),
        ..d.clone()
    })
    .await
    .unwrap();
    assert_eq!(
        s.devices(v.id).await.unwrap().len(),
        1,
        "the same endpoint registered again replaces the old"
    );
    s.delete_volunteer(v.id).await.unwrap();
    assert!(s.volunteer(v.id).await.unwrap().is_none());
    assert!(s.devices(v.id).await.unwrap().is_empty());
}

/// Incidents are unique per region and external id; a step commits all of its parts or none.
pub async fn missions_are_atomic(s: &dyn Store) {
    let r = region(s, "mis").await;
    let r2 = region(s, "mis2").await;
    let m = mission("cad-1");
    assert_eq!(
        s.create_incident(&step(r.id, &m)).await.unwrap(),
        Created::New
    );
    let again = mission("cad-1");
    assert_eq!(
        s.create_incident(&step(r.id, &again)).await.unwrap(),
        Created::Existing(m.id)
    );
    assert_eq!(
        s.create_incident(&step(r2.id, &again)).await.unwrap(),
        Created::New,
        "another region, another incident"
    );
    let v = VolunteerId::new();
    let aed = AedId::new();
    let ev = |n: u64| {
        (
            n,
            Event {
                at: t0(),
                kind: EventKind::Message {
                    text: format!("m{n}"),
                },
            },
        )
    };
    let mut st = step(r.id, &m);
    st.events = vec![ev(1), ev(2)];
    st.outbox = vec![note("alert:1", v, Some(m.id), t0())];
    st.claims = vec![(aed, v)];
    s.commit_step(&st).await.unwrap();
    // The same AED claimed by another mission: the whole step is refused and nothing of it stays.
    let mut other = step(r2.id, &again);
    other.mission.started = true;
    other.events = vec![ev(1)];
    other.outbox = vec![note("alert:2", v, Some(again.id), t0())];
    other.claims = vec![(aed, v)];
    assert!(s.commit_step(&other).await.is_err());
    assert!(!s.mission(again.id).await.unwrap().unwrap().mission.started);
    assert!(s.events(again.id, 0).await.unwrap().is_empty());
    assert_eq!(s.outbox_due(t0(), 10).await.unwrap().len(), 1);
    // Releasing frees it.
    let mut rel = step(r.id, &m);
    rel.base_version = 1;
    rel.releases = vec![aed];
    s.commit_step(&rel).await.unwrap();
    assert!(s.claims().await.unwrap().is_empty());
    s.commit_step(&other).await.unwrap();
    assert_eq!(s.claims().await.unwrap().len(), 1);
    // Events come back in order, after a given sequence number.
    let evs = s.events(m.id, 1).await.unwrap();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].0, 2);
    assert_eq!(s.live_missions().await.unwrap().len(), 2);
    assert_eq!(s.missions(r.id, false, 10).await.unwrap().len(), 1);
    let unknown = step(r.id, &mission("never-created"));
    assert!(matches!(
        s.commit_step(&unknown).await,
        Err(StoreError::NotFound)
    ));
}

/// The outbox records a key once, hands out what is due, and tracks attempts.
pub async fn outbox(s: &dyn Store) {
    let v = VolunteerId::new();
    let later = t0() + Duration::minutes(5);
    s.enqueue(&[note("a", v, None, t0()), note("b", v, None, later)])
        .await
        .unwrap();
    s.enqueue(&[note("a", v, None, t0())]).await.unwrap();
    let due = s.outbox_due(t0(), 10).await.unwrap();
    assert_eq!(
        due.iter()
            .map(|d| d.dedupe_key.as_str())
            .collect::<Vec<_>>(),
        vec!["a"],
        "recorded once; b not yet due"
    );
    assert_eq!(due[0].message.data["k"], "a");
    s.outbox_retry(due[0].id, later, "503").await.unwrap();
    assert!(s.outbox_due(t0(), 10).await.unwrap().is_empty());
    let due = s.outbox_due(later, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(
        due.iter().find(|d| d.dedupe_key == "a").unwrap().attempts,
        1
    );
    s.outbox_sent(due[0].id, later).await.unwrap();
    s.outbox_dead(due[1].id, "gone").await.unwrap();
    assert!(
        s.outbox_due(later + Duration::days(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let st = s.outbox_stats().await.unwrap();
    assert_eq!((st.pending, st.sent, st.dead), (0, 1, 1));
    assert_eq!(s.outbox_next_due().await.unwrap(), None);
}

/// What several nodes on one store rely on: a mission step commits only on
/// the version it was computed from; a volunteer is busy with one live
/// mission; leases are exclusive until they expire; an outbox item is handed
/// to one worker at a time.
pub async fn cluster(s: &dyn Store) {
    let r = region(s, "clu").await;
    let a = mission("clu-1");
    let b = mission("clu-2");
    s.create_incident(&step(r.id, &a)).await.unwrap();
    s.create_incident(&step(r.id, &b)).await.unwrap();
    assert_eq!(s.mission(a.id).await.unwrap().unwrap().version, 0);
    let mut ids = s.live_mission_ids().await.unwrap();
    ids.sort();
    let mut want = vec![a.id, b.id];
    want.sort();
    assert_eq!(ids, want);

    // Two nodes compute a step from version 0: the first commits, the second is stale.
    let v = VolunteerId::new();
    let mut first = step(r.id, &a);
    first.busy = vec![v];
    first.outbox = vec![note("alert:clu-1", v, Some(a.id), t0())];
    s.commit_step(&first).await.unwrap();
    let mut late = step(r.id, &a);
    late.events = vec![(
        1,
        Event {
            at: t0(),
            kind: EventKind::Message {
                text: "late".into(),
            },
        },
    )];
    assert!(matches!(s.commit_step(&late).await, Err(StoreError::Stale)));
    assert!(
        s.events(a.id, 0).await.unwrap().is_empty(),
        "a stale step leaves nothing behind"
    );
    assert_eq!(s.mission(a.id).await.unwrap().unwrap().version, 1);
    assert_eq!(s.busy().await.unwrap(), vec![(v, a.id)]);

    // The same volunteer cannot be busy with another mission: the whole step is refused.
    let mut other = step(r.id, &b);
    other.busy = vec![v];
    other.outbox = vec![note("alert:clu-2", v, Some(b.id), t0())];
    assert!(matches!(
        s.commit_step(&other).await,
        Err(StoreError::Conflict("volunteer busy"))
    ));
    assert_eq!(s.mission(b.id).await.unwrap().unwrap().version, 0);
    assert_eq!(
        s.outbox_due(t0(), 10)
            .await
            .unwrap()
            .iter()
            .filter(|o| o.dedupe_key == "alert:clu-2")
            .count(),
        0
    );
    // Busy again for the same mission is fine; freed, the other mission may take them.
    let mut again = step(r.id, &a);
    again.base_version = 1;
    again.busy = vec![v];
    s.commit_step(&again).await.unwrap();
    let mut free = step(r.id, &a);
    free.base_version = 2;
    free.free = vec![v];
    s.commit_step(&free).await.unwrap();
    assert!(s.busy().await.unwrap().is_empty());
    s.commit_step(&other).await.unwrap();
    // A step that ends a mission frees everyone busy with it.
    let mut ended = step(r.id, &b);
    ended.base_version = 1;
    ended.mission.status = firstlink_domain::mission::Status::Ended;
    s.commit_step(&ended).await.unwrap();
    assert!(s.busy().await.unwrap().is_empty());

    // Leases: exclusive while valid, renewable by the holder, taken over after expiry with a new epoch.
    let names = vec!["mission:1".to_string(), "job:leader".to_string()];
    let long = std::time::Duration::from_secs(30);
    let got = s.acquire_leases("n1", &names, long).await.unwrap();
    assert_eq!(
        got.iter()
            .map(|l| (l.name.as_str(), l.epoch))
            .collect::<Vec<_>>(),
        vec![("mission:1", 1), ("job:leader", 1)]
    );
    assert!(
        s.acquire_leases("n2", &names, long)
            .await
            .unwrap()
            .is_empty(),
        "held by n1"
    );
    assert_eq!(
        s.acquire_leases("n1", &names[..1], long).await.unwrap(),
        vec![Lease {
            name: "mission:1".into(),
            epoch: 1
        }],
        "renewal keeps the epoch"
    );
    s.acquire_leases("n1", &names[1..], std::time::Duration::from_millis(1))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(
        s.acquire_leases("n2", &names, long).await.unwrap(),
        vec![Lease {
            name: "job:leader".into(),
            epoch: 2
        }],
        "expired: taken over"
    );
    assert!(
        s.acquire_leases("n1", &names[1..], long)
            .await
            .unwrap()
            .is_empty(),
        "the old holder lost it"
    );
    s.release_leases("n2", &names).await.unwrap();
    assert_eq!(
        s.acquire_leases("n2", &names[..1], long).await.unwrap(),
        vec![],
        "n2 cannot release n1's lease"
    );
    assert_eq!(
        s.acquire_leases("n3", &names[1..], long)
            .await
            .unwrap()
            .len(),
        1,
        "released: free to take"
    );

    // The outbox hands each due item to one worker until its hold runs out.
    let w = VolunteerId::new();
    s.enqueue(&[
        note("claim:a", w, None, t0()),
        note("claim:b", w, None, t0()),
    ])
    .await
    .unwrap();
    let hold = Duration::seconds(30);
    let n1: Vec<_> = s
        .outbox_claim("n1", t0(), 10, hold)
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.dedupe_key.starts_with("claim:"))
        .collect();
    assert_eq!(n1.len(), 2);
    assert!(
        s.outbox_claim("n2", t0(), 10, hold)
            .await
            .unwrap()
            .iter()
            .all(|o| !o.dedupe_key.starts_with("claim:"))
    );
    assert!(
        s.outbox_due(t0(), 10)
            .await
            .unwrap()
            .iter()
            .all(|o| !o.dedupe_key.starts_with("claim:")),
        "held items are not due"
    );
    s.outbox_sent(n1[0].id, t0()).await.unwrap();
    // The holder died: after the hold, another worker gets the unsent item, and only that one.
    let later = t0() + hold + Duration::seconds(1);
    let n2: Vec<_> = s
        .outbox_claim("n2", later, 10, hold)
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.dedupe_key.starts_with("claim:"))
        .collect();
    assert_eq!(
        n2.iter().map(|o| o.dedupe_key.as_str()).collect::<Vec<_>>(),
        vec![n1[1].dedupe_key.as_str()]
    );
    s.outbox_retry(n2[0].id, later, "503").await.unwrap();
    assert_eq!(
        s.outbox_claim("n3", later, 10, hold)
            .await
            .unwrap()
            .iter()
            .filter(|o| o.dedupe_key.starts_with("claim:"))
            .count(),
        1,
        "a retry ends the hold"
    );
}

/// For backends several processes share: what `writer` commits reaches
/// `reader`'s change feed, in commit order; a store never hears its own changes.
pub async fn change_feed(writer: &dyn Store, reader: &dyn Store) {
    let mut feed = reader
        .changes()
        .await
        .unwrap()
        .expect("a shared backend has a change feed");
    let mut own = writer
        .changes()
        .await
        .unwrap()
        .expect("a shared backend has a change feed");
    let r = region(writer, "feed").await;
    let v = volunteer(r.id, "+4512121212");
    writer.create_volunteer(&v).await.unwrap();
    let fix = PositionFix {
        volunteer: v.id,
        position: LatLon::new(55.6761, 12.5683).unwrap(),
        at_unix: 1_780_000_000,
    };
    writer.save_positions(&[fix]).await.unwrap();
    let a = aed_record(r.id, "Feed AED");
    writer.upsert_aed(&a).await.unwrap();
    let m = mission("feed-1");
    writer.create_incident(&step(r.id, &m)).await.unwrap();
    writer.commit_step(&step(r.id, &m)).await.unwrap();
    writer
        .update_policy(r.id, &DispatchPolicy::hjertelober())
        .await
        .unwrap();
    writer.delete_position(v.id).await.unwrap();
    // A readiness decision of the monitoring node reaches the others as an AED change.
    writer
        .commit_monitor(&MonitorWrite {
            at: t0(),
            readiness: Some(ReadinessRecord {
                aed_id: a.id,
                at: t0(),
                readiness: firstlink_domain::aed::Readiness::NotReady,
                causes: vec!["status_fault".into()],
            }),
            unit_state: None,
            tickets: vec![],
            outbox: vec![],
        })
        .await
        .unwrap();
    // In commit order; position changes are announced just after their
    // commit (batched, in their own order), so they are compared on their own.
    let want = vec![
        Change::Region(r.id),
        Change::Volunteer(v.id),
        Change::Positions(vec![fix]),
        Change::Aed(a.id),
        Change::Mission(m.id),
        Change::Mission(m.id),
        Change::Region(r.id),
        Change::PositionDeleted(v.id),
        Change::Aed(a.id),
    ];
    let mut got = Vec::new();
    while got.len() < want.len() {
        match tokio::time::timeout(std::time::Duration::from_secs(5), feed.recv()).await {
            Ok(Some(c)) => got.push(c),
            other => panic!("change feed ended or stalled after {got:?}: {other:?}"),
        }
    }
    let positions = |v: &[Change]| {
        v.iter()
            .filter(|c| matches!(c, Change::Positions(_) | Change::PositionDeleted(_)))
            .cloned()
            .collect::<Vec<_>>()
    };
    let others = |v: &[Change]| {
        v.iter()
            .filter(|c| !matches!(c, Change::Positions(_) | Change::PositionDeleted(_)))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(positions(&got), positions(&want));
    assert_eq!(others(&got), others(&want));
    // A failed write announces nothing; the writer's own feed stays quiet.
    assert!(writer.create_region(&r).await.is_err());
    reader
        .update_policy(r.id, &DispatchPolicy::firstlink())
        .await
        .unwrap();
    let next = tokio::time::timeout(std::time::Duration::from_secs(5), own.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next,
        Change::Region(r.id),
        "the writer hears the reader's change, not its own"
    );
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), feed.recv())
            .await
            .is_err(),
        "nothing else was announced"
    );
}

/// Runs every check on one fresh store.
pub async fn run(s: &dyn Store) {
    // The outbox check counts what is due, so it runs before anything else enqueues.
    outbox(s).await;
    accounts(s).await;
    volunteers_and_positions(s).await;
    missions_are_atomic(s).await;
    the_rest_of_the_surface(s).await;
}

/// The methods the other checks do not reach: listings, single deletes,
/// audit, surveys, a volunteer's alerts, the sent-keys of an incident, and
/// announcements.
pub async fn the_rest_of_the_surface(s: &dyn Store) {
    let r = region(s, "rest").await;
    let other = region(s, "rest-other").await;
    for (id, region) in [("kr1", r.id), ("kr2", r.id), ("ko1", other.id)] {
        s.create_api_key(&ApiKey {
            id: id.into(),
            region_id: region,
            name: "cad".into(),
            hash: "h".into(),
            created_at: t0(),
            revoked_at: None,
        })
        .await
        .unwrap();
    }
    s.revoke_api_key("kr2", t0()).await.unwrap();
    let keys = s.api_keys(r.id).await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.id.as_str(), k.revoked_at.is_some()))
            .collect::<Vec<_>>(),
        vec![("kr1", false), ("kr2", true)],
        "a region's keys, revoked ones included, never another region's"
    );
    let o = Operator {
        id: uuid::Uuid::now_v7(),
        username: "rest-op".into(),
        password_hash: "h".into(),
        role: OperatorRole::Operator,
        regions: vec![r.id, other.id],
        created_at: t0(),
        disabled_at: None,
    };
    s.create_operator(&o).await.unwrap();
    assert_eq!(s.operator(o.id).await.unwrap(), Some(o.clone()));
    assert!(s.operator(uuid::Uuid::now_v7()).await.unwrap().is_none());
    assert!(s.operators().await.unwrap().contains(&o));
    for token in ["one", "two"] {
        s.create_session(&Session {
            token_hash: token.into(),
            kind: SessionKind::Operator,
            subject: o.id,
            created_at: t0(),
            expires_at: t0() + Duration::hours(1),
        })
        .await
        .unwrap();
    }
    s.delete_session("one").await.unwrap();
    assert!(s.session("one").await.unwrap().is_none());
    assert!(
        s.session("two").await.unwrap().is_some(),
        "only that session goes"
    );
    for (i, region) in [(0, Some(r.id)), (1, Some(other.id)), (2, None)] {
        s.audit(&AuditEntry {
            at: t0() + Duration::seconds(i),
            actor: "cli:test".into(),
            action: format!("act.{i}"),
            region_id: region,
            target: Some(format!("t{i}")),
            details: serde_json::json!({"i": i}),
        })
        .await
        .unwrap();
    }
    let of_r = s.audit_log(Some(r.id), 10).await.unwrap();
    assert_eq!(of_r.len(), 1);
    assert_eq!(
        (of_r[0].action.as_str(), &of_r[0].details),
        ("act.0", &serde_json::json!({"i": 0}))
    );
    let all = s.audit_log(None, 2).await.unwrap();
    assert_eq!(all.len(), 2, "the limit holds");

    let v = volunteer(r.id, "+4511220099");
    s.create_volunteer(&v).await.unwrap();
    s.set_verification(v.id, "hash", t0()).await.unwrap();
    s.clear_verification(v.id).await.unwrap();
    assert!(s.verification_attempt(v.id).await.unwrap().is_none());
    let d = Device {
        id: uuid::Uuid::now_v7(),
        volunteer: v.id,
        recipient: Recipient::Fcm {
            token: "rest".into(),
        },
        created_at: t0(),
    };
    s.add_device(&d).await.unwrap();
    assert!(
        !s.delete_device(VolunteerId::new(), d.id).await.unwrap(),
        "not another's device"
    );
    assert!(s.delete_device(v.id, d.id).await.unwrap());
    assert!(!s.delete_device(v.id, d.id).await.unwrap());
    assert!(s.devices(v.id).await.unwrap().is_empty());

    let mut m = mission("rest-1");
    m.alerts.push(firstlink_domain::mission::Alert {
        volunteer: v.id,
        wave: 1,
        state: firstlink_domain::mission::AlertState::Alerted,
        alerted_at: t0(),
        answered_at: None,
        position: LatLon::new(55.68, 12.57).unwrap(),
        walk_m: 300.0,
        task: None,
    });
    s.create_incident(&step(r.id, &m)).await.unwrap();
    assert_eq!(s.alerts_of(v.id, 10).await.unwrap(), vec![m.id]);
    assert!(
        s.alerts_of(VolunteerId::new(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let answers = serde_json::json!({"cpr_started": true});
    s.save_survey(m.id, v.id, &answers, t0()).await.unwrap();
    s.save_survey(m.id, v.id, &serde_json::json!({"cpr_started": false}), t0())
        .await
        .unwrap();
    assert!(
        s.outbox_sent_keys(m.id).await.unwrap().is_empty(),
        "nothing sent yet"
    );
    s.announce(&[Change::Graph(r.id), Change::Setting("x".into())])
        .await
        .unwrap();
}

// --- checks for the extension methods (AED registry, dispatch-centre integration) ---
