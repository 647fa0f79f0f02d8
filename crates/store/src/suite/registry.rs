//! Storage checks of the AED registry, the dispatch-centre integration and monitoring.

use super::*;

pub(super) fn aed_record(region: RegionId, name: &str) -> Aed {
    Aed {
        id: AedId::new(),
        region_id: region,
        name: name.into(),
        position: LatLon::new(55.6761, 12.5683).unwrap(),
        access: firstlink_domain::aed::AedAccess::Customers,
        opening_hours: Some("Mo-Fr 08:00-17:00".into()),
        readiness: firstlink_domain::aed::Readiness::MaintenanceDue,
        status: AedStatus::Active,
        details: AedDetails {
            indoor: Some(true),
            level: Some("1".into()),
            location_desc: vec![
                ("da".into(), "Ved indgangen".into()),
                ("en".into(), "By the entrance".into()),
            ],
            locked: Some(false),
            access_code: Some("1234".into()),
            owner_contact: Some("+4522222222".into()),
            source: Some("osm".into()),
            source_id: Some("node/1".into()),
            manufacturer: Some("Zoll".into()),
            model: Some("AED Plus".into()),
            serial: None,
            pad_expiry: chrono::NaiveDate::from_ymd_opt(2027, 3, 1),
            battery_expiry: None,
            last_maintenance: chrono::NaiveDate::from_ymd_opt(2026, 1, 2),
            last_confirmed_at: Some(t0()),
            owner_name: Some("Kiosk".into()),
            hours_error: None,
            review: vec![
                AedReviewFlag::NewRegistration,
                AedReviewFlag::Duplicate {
                    of: AedId::new(),
                    distance_m: 2.5,
                },
            ],
            reminders: vec![OwnerReminder {
                kind: "confirm".into(),
                at: t0(),
            }],
            out_for_return: Some(OutForReturnRecord {
                incident: IncidentId::new(),
                volunteer: VolunteerId::new(),
                since: t0(),
            }),
            authorized_responders: vec![VolunteerId::new()],
        },
        updated_at: t0(),
    }
}

/// AED records round-trip with every detail; `upsert_aeds` writes all of them
/// or none (both backends can, so both must).
pub async fn aed_registry(s: &dyn Store) {
    let r = region(s, "aedreg").await;
    let a = aed_record(r.id, "Kiosk");
    s.upsert_aed(&a).await.unwrap();
    assert_eq!(s.aed(a.id).await.unwrap(), Some(a.clone()));
    let renamed = Aed {
        name: "Kiosk 2".into(),
        updated_at: t0() + Duration::hours(1),
        ..a.clone()
    };
    let b = aed_record(r.id, "Library");
    s.upsert_aeds(&[renamed.clone(), b.clone()]).await.unwrap();
    assert_eq!(s.aed(a.id).await.unwrap(), Some(renamed.clone()));
    assert_eq!(s.aeds(Some(r.id)).await.unwrap().len(), 2);
    assert!(s.aeds(Some(RegionId::new())).await.unwrap().is_empty());
    // One record of an unknown region refuses the whole batch.
    let c = aed_record(r.id, "School");
    let orphan = aed_record(RegionId::new(), "Nowhere");
    assert!(s.upsert_aeds(&[c.clone(), orphan]).await.is_err());
    assert!(
        s.aed(c.id).await.unwrap().is_none(),
        "nothing of a refused batch stays"
    );
    assert_eq!(s.aeds(None).await.unwrap().len(), 2);
    s.upsert_aeds(&[]).await.unwrap();
}

/// CAD settings, messages and incidents by external id; the event log in
/// commit order across incidents; webhook cursors.
pub async fn dispatch_integration(s: &dyn Store) {
    let r = region(s, "cad").await;
    let r2 = region(s, "cad2").await;
    assert!(s.integration(r.id).await.unwrap().is_none());
    s.set_integration(
        r.id,
        &serde_json::json!({ "cap": { "enabled": true }, "v": 1 }),
        t0(),
    )
    .await
    .unwrap();
    let settings =
        serde_json::json!({ "cap": { "enabled": false, "senders": ["a", "b"] }, "ratio": 1.5 });
    s.set_integration(r.id, &settings, t0()).await.unwrap();
    assert_eq!(s.integration(r.id).await.unwrap(), Some(settings.clone()));
    assert_eq!(s.integrations().await.unwrap(), vec![(r.id, settings)]);

    let m = mission("cad-9");
    s.create_incident(&step(r.id, &m)).await.unwrap();
    assert_eq!(
        s.incident_by_external_id(r.id, "cad-9").await.unwrap(),
        Some(m.id)
    );
    assert!(
        s.incident_by_external_id(r2.id, "cad-9")
            .await
            .unwrap()
            .is_none()
    );

    let msg = CadMessage {
        region_id: r.id,
        key: "sender|1".into(),
        incident: m.id,
        kind: "alert".into(),
        source_at: t0(),
        received_at: t0(),
    };
    s.record_cad_message(&msg).await.unwrap();
    assert_eq!(
        s.cad_message(r.id, "sender|1").await.unwrap(),
        Some(msg.clone())
    );
    assert!(s.cad_message(r2.id, "sender|1").await.unwrap().is_none());
    let update = CadMessage {
        kind: "update".into(),
        source_at: t0() + Duration::minutes(1),
        ..msg.clone()
    };
    s.record_cad_message(&update).await.unwrap();
    assert_eq!(
        s.cad_message(r.id, "sender|1").await.unwrap(),
        Some(update),
        "the same key again replaces it"
    );
    s.record_cad_message(&CadMessage {
        key: "sender|0".into(),
        ..msg.clone()
    })
    .await
    .unwrap();
    assert_eq!(
        s.cad_latest(m.id).await.unwrap(),
        Some(t0() + Duration::minutes(1))
    );
    assert!(s.cad_latest(IncidentId::new()).await.unwrap().is_none());

    // Event positions follow the commit order across incidents and regions.
    let head = s.event_log_head().await.unwrap();
    let ev = |n: u64| {
        (
            n,
            Event {
                at: t0(),
                kind: EventKind::Message {
                    text: format!("e{n}"),
                },
            },
        )
    };
    let mut st = step(r.id, &m);
    st.events = vec![ev(1), ev(2)];
    s.commit_step(&st).await.unwrap();
    let m2 = mission("cad-10");
    s.create_incident(&step(r2.id, &m2)).await.unwrap();
    let mut st2 = step(r2.id, &m2);
    st2.events = vec![ev(1)];
    s.commit_step(&st2).await.unwrap();
    let mut st3 = step(r.id, &m);
    st3.base_version = 1;
    st3.events = vec![ev(3)];
    s.commit_step(&st3).await.unwrap();
    let log = s.event_log(r.id, head, 10).await.unwrap();
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(
        log.iter()
            .all(|e| e.incident == m.id && e.region_id == r.id && e.pos > head)
    );
    assert!(log.windows(2).all(|w| w[0].pos < w[1].pos));
    assert_eq!(log[1].event, ev(2).1);
    let other = s.event_log(r2.id, head, 10).await.unwrap();
    assert_eq!(other.len(), 1);
    assert!(
        log[1].pos < other[0].pos && other[0].pos < log[2].pos,
        "commit order across incidents"
    );
    assert_eq!(s.event_log_head().await.unwrap(), log[2].pos);
    let page = s.event_log(r.id, log[0].pos, 1).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2]);
    // A refused step leaves no event behind.
    let mut dup = step(r.id, &m);
    dup.base_version = 2;
    dup.events = vec![ev(3)];
    assert!(s.commit_step(&dup).await.is_err());
    assert_eq!(s.event_log_head().await.unwrap(), log[2].pos);

    assert!(s.webhook_cursor(r.id).await.unwrap().is_none());
    let mut c = WebhookCursor {
        region_id: r.id,
        last_pos: log[0].pos,
        attempts: 2,
        next_attempt_at: Some(t0() + Duration::seconds(30)),
        last_error: Some("503".into()),
        delivered: 1,
        skipped: 0,
        updated_at: t0(),
    };
    s.save_webhook_cursor(&c).await.unwrap();
    assert_eq!(s.webhook_cursor(r.id).await.unwrap(), Some(c.clone()));
    c.last_pos = log[2].pos;
    c.attempts = 0;
    c.next_attempt_at = None;
    c.last_error = None;
    c.delivered = 3;
    c.skipped = 1;
    s.save_webhook_cursor(&c).await.unwrap();
    assert_eq!(s.webhook_cursor(r.id).await.unwrap(), Some(c));
    assert!(s.webhook_cursor(r2.id).await.unwrap().is_none());
}

/// Monitoring units, tickets (one open per AED and cause), readiness history
/// and telemetry buckets (issue 6).
pub async fn monitoring(s: &dyn Store) {
    let r = region(s, "monitoring").await;
    let aed = aed_record(r.id, "Station");
    s.upsert_aed(&aed).await.unwrap();
    let mut unit = MonitorUnit {
        id: uuid::Uuid::now_v7(),
        region_id: r.id,
        aed_id: Some(aed.id),
        hardware: "cabinet-1".into(),
        firmware: Some("1.2.3".into()),
        interval_s: 300,
        key_generation: 1,
        revoked_at: None,
        lorawan: Some(LorawanBinding {
            device_id: "ws301-1".into(),
            codec: "milesight-ws301".into(),
        }),
        created_at: t0(),
    };
    s.save_unit(&unit).await.unwrap();
    unit.key_generation = 2;
    s.save_unit(&unit).await.unwrap();
    assert_eq!(s.units().await.unwrap(), vec![unit.clone()]);
    // A second unit may not claim the same LoRaWAN device.
    let twin = MonitorUnit {
        id: uuid::Uuid::now_v7(),
        ..unit.clone()
    };
    assert!(matches!(
        s.save_unit(&twin).await,
        Err(StoreError::Conflict("lorawan device id"))
    ));

    s.save_unit_states(&[(unit.id, serde_json::json!({ "n": 1 }))], t0())
        .await
        .unwrap();
    assert_eq!(
        s.unit_states().await.unwrap(),
        vec![(unit.id, serde_json::json!({ "n": 1 }))]
    );

    let ticket = Ticket {
        id: uuid::Uuid::now_v7(),
        region_id: r.id,
        aed_id: aed.id,
        unit_id: Some(unit.id),
        cause: "status_fault".into(),
        state: TicketState::Open,
        opened_at: t0(),
        notified_at: None,
        acknowledged_at: None,
        acknowledged_by: None,
        normal_since: None,
        escalated_at: None,
        resolved_at: None,
        resolved_by: None,
        note: None,
    };
    let notice = NewOutbox {
        dedupe_key: format!("ticket:{}", ticket.id),
        volunteer: None,
        incident: None,
        recipient: Some(Recipient::Email {
            address: "tech@example.org".into(),
        }),
        message: OutboxMessage {
            id: "t1".into(),
            kind: "aed_ticket".into(),
            incident: None,
            data: serde_json::json!({}),
            urgent: false,
            ttl_seconds: 3600,
        },
        not_before: t0(),
    };
    let w = MonitorWrite {
        at: t0(),
        readiness: Some(ReadinessRecord {
            aed_id: aed.id,
            at: t0(),
            readiness: firstlink_domain::aed::Readiness::NotReady,
            causes: vec!["status_fault".into()],
        }),
        unit_state: Some((unit.id, serde_json::json!({ "n": 2 }))),
        tickets: vec![ticket.clone()],
        outbox: vec![notice],
    };
    let queued_before = s.outbox_stats().await.unwrap().pending;
    s.commit_monitor(&w).await.unwrap();
    assert_eq!(
        s.aed(aed.id).await.unwrap().unwrap().readiness,
        firstlink_domain::aed::Readiness::NotReady
    );
    assert_eq!(
        s.readiness_history(aed.id, 10).await.unwrap(),
        vec![w.readiness.clone().unwrap()]
    );
    assert_eq!(
        s.unit_states().await.unwrap()[0].1,
        serde_json::json!({ "n": 2 })
    );
    assert_eq!(s.outbox_stats().await.unwrap().pending, queued_before + 1);
    assert_eq!(s.ticket(ticket.id).await.unwrap(), Some(ticket.clone()));

    // A second open ticket for the same AED and cause is refused, and the
    // whole write with it (the readiness stays as it was).
    let dup = Ticket {
        id: uuid::Uuid::now_v7(),
        ..ticket.clone()
    };
    let w2 = MonitorWrite {
        at: t0() + Duration::minutes(1),
        readiness: Some(ReadinessRecord {
            aed_id: aed.id,
            at: t0() + Duration::minutes(1),
            readiness: firstlink_domain::aed::Readiness::Ready,
            causes: vec![],
        }),
        tickets: vec![dup.clone()],
        ..Default::default()
    };
    assert!(matches!(
        s.commit_monitor(&w2).await,
        Err(StoreError::Conflict("open ticket"))
    ));
    assert_eq!(
        s.aed(aed.id).await.unwrap().unwrap().readiness,
        firstlink_domain::aed::Readiness::NotReady
    );

    // Resolved, it frees the slot for a new ticket with the same cause.
    let resolved = Ticket {
        state: TicketState::Resolved,
        resolved_at: Some(t0() + Duration::hours(1)),
        note: Some("pads replaced".into()),
        ..ticket.clone()
    };
    s.commit_monitor(&MonitorWrite {
        at: t0(),
        tickets: vec![resolved.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let later = Ticket {
        opened_at: t0() + Duration::hours(2),
        ..dup
    };
    s.commit_monitor(&MonitorWrite {
        at: t0(),
        tickets: vec![later.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.tickets(Some(r.id), None, true, 10).await.unwrap(),
        vec![later.clone()]
    );
    assert_eq!(
        s.tickets(Some(r.id), Some(aed.id), false, 10)
            .await
            .unwrap(),
        vec![later, resolved]
    );
    assert!(
        s.tickets(Some(RegionId::new()), None, false, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let bucket = |m: i64, n: u32| TelemetryBucket {
        unit_id: unit.id,
        start: t0() + Duration::minutes(m),
        messages: n,
        temp_min: Some(4.5),
        temp_max: Some(6.0),
        temp_last: Some(5.0),
        light: Some("ok".into()),
        unit_battery: Some(80),
        door_opens: 0,
    };
    s.save_telemetry(&[bucket(0, 1), bucket(15, 3)])
        .await
        .unwrap();
    s.save_telemetry(&[bucket(15, 4)]).await.unwrap();
    assert_eq!(
        s.telemetry(unit.id, t0() + Duration::minutes(10), 10)
            .await
            .unwrap(),
        vec![bucket(15, 4)]
    );
    assert_eq!(s.telemetry(unit.id, t0(), 10).await.unwrap().len(), 2);
    assert_eq!(
        s.purge_telemetry(t0() + Duration::minutes(10))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.telemetry(unit.id, t0(), 10).await.unwrap(),
        vec![bucket(15, 4)]
    );
}
