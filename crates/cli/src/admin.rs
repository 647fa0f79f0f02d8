//! `firstlink admin …`: set up regions, dispatch API keys and operator
//! accounts from the command line, directly on the configured database.

use clap::Subcommand;
use firstlink_server::api::admin::{NewRegion, create_key_checked, create_region_checked};
use firstlink_server::auth::{hash_password, random_secret};
use firstlink_server::{App, Config};
use firstlink_store::{AuditEntry, Operator, OperatorRole};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a region.
    CreateRegion {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        /// IANA time zone, e.g. Europe/Copenhagen.
        #[arg(long)]
        timezone: String,
        /// ISO country code, e.g. DK.
        #[arg(long)]
        country: String,
        /// firstlink (default), heartrunner, hjertelober or goodsam.
        #[arg(long)]
        preset: Option<String>,
    },
    /// List regions.
    Regions,
    /// Create a dispatch API key for a region; the key is printed once.
    CreateApiKey {
        #[arg(long)]
        region: String,
        #[arg(long)]
        name: String,
    },
    /// Revoke a dispatch API key by its id.
    RevokeApiKey {
        #[arg(long)]
        id: String,
    },
    /// Create an operator account (dispatcher, operator or admin).
    CreateOperator {
        #[arg(long)]
        username: String,
        #[arg(long)]
        role: String,
        /// Region slugs (repeat for several); admins see every region.
        #[arg(long)]
        region: Vec<String>,
        /// Read the password from this environment variable instead of generating one.
        #[arg(long)]
        password_env: Option<String>,
    },
    /// Set a region's boundary, border margin and neighbours (regions are
    /// partitions: see `GET/PUT /api/v1/regions/{slug}/partition`). Options
    /// not given keep their current value.
    SetPartition {
        #[arg(long)]
        region: String,
        /// A GeoJSON file: a Polygon or MultiPolygon geometry, a Feature or a
        /// FeatureCollection of one feature (lon/lat).
        #[arg(long, conflicts_with = "no_boundary")]
        boundary: Option<std::path::PathBuf>,
        /// Remove the boundary (the region takes incidents anywhere).
        #[arg(long)]
        no_boundary: bool,
        /// Metres outside the boundary an incident is still taken.
        #[arg(long)]
        margin_m: Option<f64>,
        /// Neighbour region slugs (repeat); in effect only where the neighbour names this region too.
        #[arg(long = "neighbour")]
        neighbours: Vec<String>,
        /// Remove every neighbour.
        #[arg(long, conflicts_with = "neighbours")]
        no_neighbours: bool,
    },
}

/// The geometry of a GeoJSON file (a bare geometry, a Feature, or a
/// FeatureCollection of exactly one feature).
fn geometry_of(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not JSON: {e}", path.display()))?;
    let g = match v.get("type").and_then(|t| t.as_str()) {
        Some("Feature") => v.get("geometry").cloned(),
        Some("FeatureCollection") => match v.get("features").and_then(|f| f.as_array()) {
            Some(f) if f.len() == 1 => f[0].get("geometry").cloned(),
            _ => anyhow::bail!(
                "{}: give a FeatureCollection of one feature",
                path.display()
            ),
        },
        _ => Some(v),
    };
    g.ok_or_else(|| anyhow::anyhow!("{}: no geometry", path.display()))
}

async fn audit(app: &App, action: &str, target: String) -> anyhow::Result<()> {
    let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    app.store
        .audit(&AuditEntry {
            at: app.now(),
            actor: format!("cli:{who}"),
            action: action.into(),
            region_id: None,
            target: Some(target),
            details: serde_json::json!({}),
        })
        .await?;
    Ok(())
}

fn api_err(e: firstlink_server::error::ApiError) -> anyhow::Error {
    match e.field {
        Some(f) => anyhow::anyhow!("{f}: {}", e.message),
        None => anyhow::anyhow!("{}", e.message),
    }
}

pub async fn run(config: Config, cmd: &AdminCommand) -> anyhow::Result<()> {
    let store = firstlink_server::open_store(&config)?;
    let app = App::new(config, store)?;
    app.load_regions().await?;
    match cmd {
        AdminCommand::CreateRegion {
            slug,
            name,
            timezone,
            country,
            preset,
        } => {
            let r = create_region_checked(
                &app,
                NewRegion {
                    slug: slug.clone(),
                    name: name.clone(),
                    timezone: timezone.clone(),
                    country: country.clone(),
                    preset: preset.clone(),
                },
            )
            .await
            .map_err(api_err)?;
            audit(&app, "region.create", r.slug.clone()).await?;
            println!("region created: {} ({})", r.slug, r.id);
        }
        AdminCommand::Regions => {
            for r in app.regions() {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    r.region.slug,
                    r.region.name,
                    r.region.timezone,
                    r.region.country,
                    r.region.policy.preset
                );
            }
        }
        AdminCommand::CreateApiKey { region, name } => {
            let r = app
                .region_by_slug(region)
                .ok_or_else(|| anyhow::anyhow!("no region {region:?}"))?;
            let (row, token) = create_key_checked(&app, r.region.id, name)
                .await
                .map_err(api_err)?;
            audit(&app, "api_key.create", row.id.clone()).await?;
            println!("dispatch-api-key: {token}");
            println!("(key id {}; store it now, it is not shown again)", row.id);
        }
        AdminCommand::RevokeApiKey { id } => {
            app.store
                .revoke_api_key(id, app.now())
                .await
                .map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
            audit(&app, "api_key.revoke", id.clone()).await?;
            println!("revoked {id}");
        }
        AdminCommand::CreateOperator {
            username,
            role,
            region,
            password_env,
        } => {
            let role = OperatorRole::parse(role).ok_or_else(|| {
                anyhow::anyhow!("role must be dispatcher, operator, technician or admin")
            })?;
            let mut regions = Vec::new();
            for s in region {
                regions.push(
                    app.region_by_slug(s)
                        .ok_or_else(|| anyhow::anyhow!("no region {s:?}"))?
                        .region
                        .id,
                );
            }
            if regions.is_empty() && role != OperatorRole::Admin {
                anyhow::bail!("a {} needs at least one --region", role.as_str());
            }
            let (password, generated) = match password_env {
                Some(var) => (
                    std::env::var(var).map_err(|_| anyhow::anyhow!("${var} is not set"))?,
                    false,
                ),
                None => (random_secret()[..20].to_string(), true),
            };
            if password.chars().count() < 10 {
                anyhow::bail!("the password must have at least 10 characters");
            }
            let o = Operator {
                id: uuid::Uuid::now_v7(),
                username: username.trim().to_string(),
                password_hash: hash_password(&password)?,
                role,
                regions,
                created_at: app.now(),
                disabled_at: None,
            };
            app.store
                .create_operator(&o)
                .await
                .map_err(|e| anyhow::anyhow!("{username}: {e}"))?;
            audit(&app, "operator.create", o.username.clone()).await?;
            println!("operator created: {} ({})", o.username, role.as_str());
            if generated {
                println!("password: {password}");
            }
        }
        AdminCommand::SetPartition {
            region,
            boundary,
            no_boundary,
            margin_m,
            neighbours,
            no_neighbours,
        } => {
            let r = app
                .region_by_slug(region)
                .ok_or_else(|| anyhow::anyhow!("no region {region:?}"))?;
            let mut p = r.partition.settings.clone();
            if let Some(path) = boundary {
                p.boundary = Some(geometry_of(path)?);
            }
            if *no_boundary {
                p.boundary = None;
            }
            if margin_m.is_some() {
                p.border_margin_m = *margin_m;
            }
            if *no_neighbours {
                p.neighbours.clear();
            }
            if !neighbours.is_empty() {
                p.neighbours = neighbours
                    .iter()
                    .map(|n| {
                        app.region_by_slug(n)
                            .map(|x| x.region.id)
                            .ok_or_else(|| anyhow::anyhow!("no region {n:?}"))
                    })
                    .collect::<anyhow::Result<_>>()?;
            }
            firstlink_server::partition::save(&*app.store, r.region.id, &p).await?;
            audit(&app, "region.partition", r.region.slug.clone()).await?;
            app.load_regions().await?;
            let agreed: Vec<String> = app
                .dispatch_regions(r.region.id)
                .into_iter()
                .skip(1)
                .filter_map(|id| app.region(id).map(|x| x.region.slug))
                .collect();
            println!(
                "partition of {}: boundary {}, margin {} m, neighbours agreed: {}",
                r.region.slug,
                if p.boundary.is_some() { "set" } else { "none" },
                app.region(r.region.id)
                    .map_or(0.0, |x| x.partition.margin_m()),
                if agreed.is_empty() {
                    "none".into()
                } else {
                    agreed.join(", ")
                }
            );
        }
    }
    Ok(())
}
