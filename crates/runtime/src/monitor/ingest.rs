//! Ingest: a unit's message decoded, run through its rules and the outcome
//! applied (registry at once, then one committed write).

use super::*;

impl Monitor {
    pub(super) fn slot(&self, id: Uuid) -> Option<Arc<Slot>> {
        rd(&self.units).get(&id).cloned()
    }

    /// Handles one message of `unit`. Returns once its consequences are durable.
    pub async fn ingest(
        &self,
        app: &Arc<App>,
        unit: Uuid,
        via: Via,
        payload: Payload<'_>,
    ) -> Result<(), IngestError> {
        let slot = self.slot(unit).ok_or(IngestError::UnknownUnit)?;
        let reading = {
            let m = rd(&slot.meta);
            if m.unit.revoked_at.is_some() {
                return Err(IngestError::Revoked);
            }
            match payload {
                Payload::Json(b) => {
                    firstlink_monitor::decode_json(b, &m.key, via == Via::ExternalMqtt)?
                }
                Payload::Binary(b) => firstlink_monitor::decode_binary(b, &m.key)?,
            }
        };
        self.apply(app, &slot, &reading).await
    }

    /// Handles a The Things Stack uplink (topic `v3/{app}/devices/{device}/up`).
    pub async fn ingest_lorawan(
        &self,
        app: &Arc<App>,
        topic: &str,
        payload: &[u8],
    ) -> Result<(), IngestError> {
        let up = firstlink_monitor::parse_tts_uplink(topic, payload)?;
        let id = rd(&self.lorawan)
            .get(&up.device_id)
            .copied()
            .ok_or(IngestError::UnknownUnit)?;
        let slot = self.slot(id).ok_or(IngestError::UnknownUnit)?;
        let codec = {
            let m = rd(&slot.meta);
            if m.unit.revoked_at.is_some() {
                return Err(IngestError::Revoked);
            }
            let name = m
                .unit
                .lorawan
                .as_ref()
                .map(|l| l.codec.clone())
                .unwrap_or_default();
            name.parse::<LorawanCodec>().map_err(|_| {
                IngestError::Decode(DecodeError::Malformed(format!("unknown codec {name:?}")))
            })?
        };
        let f_port = up.f_port.ok_or_else(|| {
            IngestError::Decode(DecodeError::Malformed("uplink without f_port".into()))
        })?;
        let signals = firstlink_monitor::decode_lorawan(codec, f_port, &up.frm_payload)?;
        let reading = Reading {
            at: up.received_at,
            seq: None,
            signals,
        };
        self.apply(app, &slot, &reading).await
    }

    fn facts(app: &App, aed: AedId) -> Option<AedFacts> {
        let aeds = app.aeds();
        let a = aeds.get(aed)?;
        Some(AedFacts {
            region: a.region_id,
            name: a.name.clone(),
            owner: a.details.owner_name.clone(),
        })
    }

    pub(super) fn basis(&self, app: &App, aed: Option<AedId>) -> Basis {
        let aeds = app.aeds();
        let a = aed.and_then(|id| aeds.get(id));
        let rules = {
            let book = rd(&self.rules);
            a.and_then(|a| a.details.model.as_deref())
                .and_then(|m| book.get(m))
                .or_else(|| book.get(""))
                .cloned()
                .unwrap_or_else(|| Arc::clone(default_rules()))
        };
        Basis {
            rules,
            registered: a.map(|a| a.position),
            pad_expiry: a.and_then(|a| a.details.pad_expiry),
            battery_expiry: a.and_then(|a| a.details.battery_expiry),
        }
    }

    async fn apply(
        &self,
        app: &Arc<App>,
        slot: &Slot,
        reading: &Reading,
    ) -> Result<(), IngestError> {
        let mut inner = slot.inner.lock().await;
        let now = app.now();
        let (id, aed, interval_s) = {
            let m = rd(&slot.meta);
            (m.unit.id, m.unit.aed_id, m.unit.interval_s)
        };
        let basis = self.basis(app, aed);
        let tr = inner
            .state
            .apply(&basis.ctx(interval_s), reading, now)
            .map_err(|e| match e {
                firstlink_monitor::Rejected::FromFuture => IngestError::FromFuture,
                firstlink_monitor::Rejected::TooOld => IngestError::TooOld,
            })?;
        inner.record(id, reading);
        inner.dirty = true;
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        if tr.is_noop() && Self::in_step(app, aed, &inner.state) {
            return Ok(());
        }
        let unit = rd(&slot.meta).unit.clone();
        self.act(app, &unit, &mut inner, tr, now).await
    }

    /// Whether dispatch already sees the readiness the unit's rules say.
    pub(super) fn in_step(app: &App, aed: Option<AedId>, state: &UnitState) -> bool {
        aed.and_then(|a| app.aeds().get(a).map(|x| x.readiness))
            .is_none_or(|r| r == state.readiness())
    }

    /// Makes a transition effective: dispatch at once, then the durable record.
    pub(super) async fn act(
        &self,
        app: &Arc<App>,
        unit: &MonitorUnit,
        inner: &mut Inner,
        tr: Transition,
        now: DateTime<Utc>,
    ) -> Result<(), IngestError> {
        self.counters.transitions.fetch_add(1, Ordering::Relaxed);
        let state = serde_json::to_value(&inner.state).unwrap_or_default();
        let facts = unit.aed_id.and_then(|a| Self::facts(app, a));
        let (Some(aed), Some(facts)) = (unit.aed_id, facts) else {
            // Not bound to an AED (or the AED is gone): the state is all there is.
            app.store.save_unit_states(&[(unit.id, state)], now).await?;
            inner.dirty = false;
            return Ok(());
        };
        let mut w = MonitorWrite {
            at: now,
            unit_state: Some((unit.id, state)),
            ..Default::default()
        };
        // Compared with what dispatch sees (not only the rules' previous
        // state), so a newly bound AED takes its unit's readiness too.
        let after = inner.state.readiness();
        let before = app.aeds().get(aed).map(|a| a.readiness);
        if before != Some(after) {
            // Dispatch stops (or starts) offering the AED now; the record follows.
            app.aeds_mut().set_readiness(aed, after);
            let causes = inner
                .state
                .causes()
                .iter()
                .map(|c| c.code().to_string())
                .collect();
            w.readiness = Some(ReadinessRecord {
                aed_id: aed,
                at: now,
                readiness: after,
                causes,
            });
            tracing::info!(aed.id = %aed, unit = %unit.id, from = ?before, to = ?after, "AED readiness changed");
        }
        let routing = self.routing(facts.region);
        // A responder was sent to this AED: taking it out is the point.
        let claim = app.aeds().claimed_by(aed);
        let mut collected = Vec::new();
        {
            let open = lock(&self.tickets);
            for c in &tr.opened {
                if claim.is_some() && *c == Cause::AedRemoved {
                    continue;
                }
                self.open_ticket(&open, unit, aed, &facts, &routing, c.code(), now, &mut w);
            }
            for c in &tr.cleared {
                if let Some(t) = open
                    .get(&(aed, c.code().to_string()))
                    .filter(|t| t.normal_since.is_none())
                {
                    w.tickets.push(Ticket {
                        normal_since: Some(now),
                        ..t.clone()
                    });
                }
            }
            for e in &tr.events {
                let check = match e {
                    UnitEvent::DoorOpened { .. } => "door_opened",
                    UnitEvent::AedRemoved { .. } => "aed_removed",
                    _ => continue,
                };
                match claim {
                    // The cabinet opening is the collection.
                    Some(claim) => {
                        if !collected.contains(&claim) {
                            collected.push(claim);
                        }
                    }
                    None => {
                        self.open_ticket(&open, unit, aed, &facts, &routing, check, now, &mut w)
                    }
                }
            }
        }
        app.store.commit_monitor(&w).await?;
        inner.dirty = false;
        {
            let mut open = lock(&self.tickets);
            for t in &w.tickets {
                let k = (t.aed_id, t.cause.clone());
                if t.state == TicketState::Resolved {
                    open.remove(&k);
                } else {
                    open.insert(k, t.clone());
                }
            }
        }
        if !w.outbox.is_empty() {
            app.outbox.wake();
        }
        for (incident, volunteer) in collected {
            let input = Input::Progress {
                volunteer,
                progress: Progress::AedCollected,
            };
            if let Err(e) = app.missions.input(app, incident, input).await {
                tracing::info!(incident.id = %incident, error = %e, "cabinet opened; the mission did not take it as collected");
            }
        }
        Ok(())
    }
}
