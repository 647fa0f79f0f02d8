//! `firstlink aeds …`: import AED registries into a region, directly on the
//! configured database. A running server picks the changes up at its next start.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Subcommand;
use firstlink_registry::csv::ColumnMap;
use firstlink_registry::{Format, ParseOptions, SyncOptions, parse_file, plan_sync};
use firstlink_server::{App, Config};
use firstlink_store::{AedStatus, AuditEntry};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Subcommand)]
pub enum AedsCommand {
    /// Import (sync) AEDs from an OpenStreetMap PBF, a GeoJSON file or a CSV file.
    Import {
        /// Region slug.
        #[arg(long)]
        region: String,
        /// Source name: records are matched on (source, source id), e.g. osm, defikarte, dk-registry.
        #[arg(long)]
        source: String,
        /// osm, geojson or csv (default: from the file extension).
        #[arg(long)]
        format: Option<String>,
        /// CSV column mapping, field=column (repeat), e.g. --map lat=Breitengrad --map id=Nummer.
        #[arg(long = "map")]
        map: Vec<String>,
        /// Language of untagged descriptions, e.g. de.
        #[arg(long, default_value = "und")]
        lang: String,
        /// Remove more than half of the source's records if the file says so.
        #[arg(long)]
        force: bool,
        /// New records wait for an operator's review instead of being active.
        #[arg(long)]
        pending: bool,
        /// Plan and report only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The file to import.
        file: PathBuf,
    },
}

const CHUNK: usize = 2_000;

pub async fn run(config: Config, cmd: &AedsCommand) -> anyhow::Result<()> {
    let AedsCommand::Import {
        region,
        source,
        format,
        map,
        lang,
        force,
        pending,
        dry_run,
        file,
    } = cmd;
    let format = format
        .as_deref()
        .or_else(|| file.to_str())
        .and_then(Format::parse)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "cannot tell the format of {}; pass --format osm|geojson|csv",
                file.display()
            )
        })?;
    let map = ColumnMap::parse(map).map_err(|e| anyhow::anyhow!("--map: {e}"))?;
    let store = firstlink_server::open_store(&config)?;
    let app = App::new(config, store)?;
    app.load_regions().await?;
    let rt = app
        .region_by_slug(region)
        .ok_or_else(|| anyhow::anyhow!("no region {region:?}"))?;
    let started = Instant::now();

    let spinner = ProgressBar::new_spinner();
    spinner.set_message(format!("reading {}", file.display()));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let opts = ParseOptions {
        default_lang: lang.clone(),
        ..Default::default()
    };
    let parsed = tokio::task::spawn_blocking(move || parse_file(format, &bytes, &map, &opts))
        .await?
        .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was imported", file.display()))?;
    spinner.set_message("matching against stored records");
    let existing = app.store.aeds(Some(rt.region.id)).await?;
    let mut o = SyncOptions::new(source, rt.region.id, app.now());
    o.force = *force;
    if *pending {
        o.new_status = AedStatus::PendingReview;
    }
    let plan = plan_sync(&existing, parsed, &o);
    spinner.finish_and_clear();
    let plan = plan.map_err(|e| anyhow::anyhow!("{e}"))?;

    let writes = plan.writes();
    if !*dry_run && !writes.is_empty() {
        let bar = ProgressBar::new(writes.len() as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} writing [{bar:40}] {pos}/{len} ({per_sec}, {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        // Chunks of a few thousand, each in one transaction; a re-run completes an interrupted sync.
        for chunk in writes.chunks(CHUNK) {
            app.store.upsert_aeds(chunk).await?;
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
    }
    let s = plan.summary();
    for r in &plan.rejected {
        println!("rejected: {r}");
    }
    for w in &plan.warnings {
        println!("warning:  {w}");
    }
    for f in &plan.flagged {
        println!(
            "flagged:  {} ({}): {}",
            f.id,
            f.source_id.as_deref().unwrap_or("-"),
            serde_json::to_string(&f.flag).unwrap_or_default()
        );
    }
    println!(
        "{}{}: created {}, updated {}, unchanged {}, flagged {}, removed {}, rejected {}, warnings {} in {:.2} s",
        if *dry_run {
            "dry run, nothing written. "
        } else {
            ""
        },
        file.display(),
        s.created,
        s.updated,
        s.unchanged,
        s.flagged,
        s.removed,
        s.rejected,
        s.warnings,
        started.elapsed().as_secs_f64()
    );
    if !*dry_run {
        let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        app.store
            .audit(&AuditEntry {
                at: app.now(),
                actor: format!("cli:{who}"),
                action: "aed.import".into(),
                region_id: Some(rt.region.id),
                target: Some(source.clone()),
                details: serde_json::to_value(s).unwrap_or_default(),
            })
            .await?;
    }
    Ok(())
}
