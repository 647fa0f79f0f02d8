//! Tickets: opening one for a fault, the periodic tick, escalation and the
//! technicians' notices.

use super::*;

impl Monitor {
    /// Opens a ticket for (AED, cause) unless one is unresolved; a ticket
    /// whose signal had gone back to normal is reopened instead.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open_ticket(
        &self,
        open: &HashMap<(AedId, String), Ticket>,
        unit: &MonitorUnit,
        aed: AedId,
        facts: &AedFacts,
        routing: &ServiceRouting,
        cause: &str,
        now: DateTime<Utc>,
        w: &mut MonitorWrite,
    ) {
        if w.tickets
            .iter()
            .any(|t| t.aed_id == aed && t.cause == cause)
        {
            return;
        }
        let to = recipients(routing, facts.owner.as_ref());
        if let Some(t) = open.get(&(aed, cause.to_string())) {
            // Detected again while unresolved: the same ticket, never a second
            // notice. Only one nobody was told about gets its first one now.
            let mut t2 = Ticket {
                normal_since: None,
                ..t.clone()
            };
            let notes = first_notice(&mut t2, &facts.name, to, now);
            if t2 != *t {
                w.outbox.extend(notes);
                w.tickets.push(t2);
            }
            return;
        }
        let t = Ticket {
            id: Uuid::now_v7(),
            region_id: facts.region,
            aed_id: aed,
            unit_id: Some(unit.id),
            cause: cause.to_string(),
            state: TicketState::Open,
            opened_at: now,
            notified_at: None,
            acknowledged_at: None,
            acknowledged_by: None,
            normal_since: None,
            escalated_at: None,
            resolved_at: None,
            resolved_by: None,
            note: None,
        };
        let mut t = t;
        w.outbox.extend(first_notice(&mut t, &facts.name, to, now));
        w.tickets.push(t);
    }

    /// Runs the time-driven rules of every unit whose deadline has come,
    /// then escalates unacknowledged tickets. Public so tests can drive it
    /// with any instant.
    pub async fn tick_at(&self, app: &Arc<App>, now: DateTime<Utc>) {
        let slots: Vec<Arc<Slot>> = rd(&self.units).values().cloned().collect();
        for slot in slots {
            let Ok(mut inner) = slot.inner.try_lock() else {
                continue;
            };
            let (aed, interval_s, revoked) = {
                let m = rd(&slot.meta);
                (
                    m.unit.aed_id,
                    m.unit.interval_s,
                    m.unit.revoked_at.is_some(),
                )
            };
            if revoked {
                continue;
            }
            let basis = self.basis(app, aed);
            let ctx = basis.ctx(interval_s);
            if inner.state.next_deadline(&ctx).is_none_or(|d| d > now) {
                continue;
            }
            let tr = inner.state.tick(&ctx, now);
            inner.dirty = true;
            let unit = rd(&slot.meta).unit.clone();
            if !(tr.is_noop() && Self::in_step(app, aed, &inner.state))
                && let Err(e) = self.act(app, &unit, &mut inner, tr, now).await
            {
                tracing::error!(unit = %unit.id, error = %e, "could not record a monitoring decision");
            }
        }
        self.escalate(app, now).await;
    }

    async fn escalate(&self, app: &Arc<App>, now: DateTime<Utc>) {
        let due: Vec<Ticket> = lock(&self.tickets)
            .values()
            .filter(|t| t.state == TicketState::Open && t.escalated_at.is_none())
            // Only a notice that went out and was not acknowledged in time
            // escalates; nobody can be late for a ticket nobody was told of.
            .filter(|t| {
                let m = self.routing(t.region_id).escalate_after_minutes;
                m > 0
                    && t.notified_at
                        .is_some_and(|n| n + chrono::Duration::minutes(i64::from(m)) <= now)
            })
            .cloned()
            .collect();
        for t in due {
            // Another node may have acknowledged or resolved it since.
            if app.cluster.shared() {
                match app.store.ticket(t.id).await {
                    Ok(Some(cur))
                        if cur.state != TicketState::Open
                            || cur.escalated_at.is_some()
                            || cur.notified_at != t.notified_at =>
                    {
                        let mut open = lock(&self.tickets);
                        let k = (cur.aed_id, cur.cause.clone());
                        if cur.state == TicketState::Resolved {
                            open.remove(&k);
                        } else {
                            open.insert(k, cur);
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(ticket = %t.id, error = %e, "cannot check a ticket before escalating it");
                        continue;
                    }
                }
            }
            let routing = self.routing(t.region_id);
            let name = app
                .aeds()
                .get(t.aed_id)
                .map(|a| a.name.clone())
                .unwrap_or_default();
            let to = if routing.escalation.is_empty() {
                &routing.technicians
            } else {
                &routing.escalation
            };
            let t = Ticket {
                escalated_at: Some(now),
                ..t
            };
            let w = MonitorWrite {
                at: now,
                outbox: notices(&t, &name, to, true),
                tickets: vec![t.clone()],
                ..Default::default()
            };
            match app.store.commit_monitor(&w).await {
                Ok(()) => {
                    tracing::warn!(ticket = %t.id, aed.id = %t.aed_id, cause = t.cause, "service ticket escalated");
                    lock(&self.tickets).insert((t.aed_id, t.cause.clone()), t);
                    app.outbox.wake();
                }
                Err(e) => {
                    tracing::error!(ticket = %t.id, error = %e, "could not escalate a ticket")
                }
            }
        }
    }

    /// Acknowledges or resolves a ticket (after the store committed it).
    pub async fn save_ticket(&self, app: &App, t: Ticket) -> Result<(), StoreError> {
        app.store
            .commit_monitor(&MonitorWrite {
                at: app.now(),
                tickets: vec![t.clone()],
                ..Default::default()
            })
            .await?;
        let mut open = lock(&self.tickets);
        let k = (t.aed_id, t.cause.clone());
        if t.state == TicketState::Resolved {
            open.remove(&k);
        } else {
            open.insert(k, t);
        }
        Ok(())
    }
}

/// Who hears of a new ticket of an AED: its owner's service partner, else
/// the region's technicians.
pub(super) fn recipients<'a>(routing: &'a ServiceRouting, owner: Option<&String>) -> &'a [Contact] {
    match owner.and_then(|o| routing.partners.get(o)) {
        Some(p) if !p.is_empty() => p.as_slice(),
        _ => routing.technicians.as_slice(),
    }
}

/// The first notice of a ticket that has had none, when it is open, its
/// signal not back to normal and someone is to be told; marks the ticket
/// notified. Nothing for a ticket notified before.
pub(super) fn first_notice(
    t: &mut Ticket,
    aed_name: &str,
    to: &[Contact],
    now: DateTime<Utc>,
) -> Vec<NewOutbox> {
    if t.notified_at.is_some() || t.state != TicketState::Open || t.normal_since.is_some() {
        return Vec::new();
    }
    let out = notices(t, aed_name, to, false);
    if !out.is_empty() {
        t.notified_at = Some(now);
    }
    out
}

/// One notification per recipient of every contact, keyed by ticket, stage
/// and the recipient's place in the routing, so each is recorded once
/// however often the ticket is detected again;
/// due at once (wall-clock), whatever instant the rules ran at.
fn notices(t: &Ticket, aed_name: &str, to: &[Contact], escalated: bool) -> Vec<NewOutbox> {
    let stage = if escalated { "escalated" } else { "opened" };
    let mut out = Vec::new();
    for (i, c) in to.iter().enumerate() {
        for (j, r) in c.recipients().into_iter().enumerate() {
            out.push(NewOutbox {
                dedupe_key: format!("ticket:{}:{stage}:{i}:{j}", t.id),
                volunteer: None,
                incident: None,
                recipient: Some(r),
                message: OutboxMessage {
                    id: format!("ticket-{}-{stage}", t.id),
                    kind: "aed_service".into(),
                    incident: None,
                    data: serde_json::json!({
                        "ticket_id": t.id,
                        "aed_id": t.aed_id,
                        "aed_name": aed_name,
                        "cause": t.cause,
                        "escalated": escalated,
                        "opened_at": t.opened_at,
                        "lang": c.lang.clone().unwrap_or_else(|| "en".into()),
                    }),
                    urgent: false,
                    ttl_seconds: 24 * 3600,
                },
                not_before: Utc::now(),
            });
        }
    }
    out
}
