//! Which OpenStreetMap ways a person may walk or run on, and how slow they are.
//!
//! [`walk_profile`] turns the tags of one way into a [`WayProfile`]: `None`
//! when the way is not walkable, otherwise one cost factor per direction
//! (walking-equivalent metres per metre of way; `f32::INFINITY` for a
//! direction that is forbidden on foot).

/// How a walkable way is costed, per direction of the way's node list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WayProfile {
    /// Cost factor walking in the way's direction (≥ 1, or infinite when forbidden).
    pub forward: f32,
    /// Cost factor walking against the way's direction (≥ 1, or infinite when forbidden).
    pub backward: f32,
}

/// Upper bound of the combined cost factor of one way.
pub const MAX_FACTOR: f32 = 6.0;
/// Cost factor of `highway=steps` (stairs take well over half again as long as flat ground).
pub const STEPS_FACTOR: f32 = 1.8;
/// Slopes at or below this grade (8 %) are treated as flat.
pub const STEEP_GRADE: f64 = 0.08;

/// Look up a tag's value in a list of `(key, value)` pairs.
fn tag<'a>(tags: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Highway types walkable by default (unless `foot=no`, `access=no`, …).
const WALKABLE_BY_DEFAULT: &[&str] = &[
    "footway",
    "path",
    "pedestrian",
    "steps",
    "track",
    "residential",
    "service",
    "living_street",
    "unclassified",
    "road",
    "tertiary",
    "tertiary_link",
    "secondary",
    "secondary_link",
    "primary",
    "primary_link",
    "cycleway",
    "bridleway",
    "corridor",
    "platform",
    "crossing",
];

/// Highway types that are never walkable, whatever the other tags say.
const NEVER_WALKABLE: &[&str] = &[
    "construction",
    "proposed",
    "planned",
    "abandoned",
    "disused",
    "razed",
    "raceway",
    "bus_guideway",
    "escape",
    "elevator",
    "services",
    "rest_area",
];

/// Highway types that are walkable only when `foot=*` explicitly allows it.
const FOOT_TAG_REQUIRED: &[&str] = &["motorway", "motorway_link", "trunk", "trunk_link"];

/// Walking permission expressed by a `foot` or `access` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Permission {
    Yes,
    No,
    Unspecified,
}

fn permission(value: Option<&str>) -> Permission {
    match value {
        Some(
            "yes" | "designated" | "permissive" | "destination" | "customers" | "delivery"
            | "official",
        ) => Permission::Yes,
        Some("no" | "private" | "use_sidepath" | "discouraged_no" | "military") => Permission::No,
        _ => Permission::Unspecified,
    }
}

/// Parse an `incline=*` value into a grade (0.1 = 10 % up in way direction).
/// `up`/`down` without a number count as 10 %. Unparsable → `None`.
fn parse_incline(value: &str) -> Option<f64> {
    let v = value.trim();
    match v {
        "up" => return Some(0.10),
        "down" => return Some(-0.10),
        _ => {}
    }
    if let Some(p) = v.strip_suffix('%') {
        let g = p.trim().parse::<f64>().ok()? / 100.0;
        return g.is_finite().then_some(g.clamp(-1.0, 1.0));
    }
    if let Some(d) = v.strip_suffix('°') {
        let g = d.trim().parse::<f64>().ok()?.to_radians().tan();
        return g.is_finite().then_some(g.clamp(-1.0, 1.0));
    }
    None
}

/// Extra cost of a slope, from Tobler's hiking function relative to flat
/// ground: `exp(3.5 (|s + 0.05| − 0.05))`, applied only beyond [`STEEP_GRADE`].
/// 10 % up → ×1.42, 15 % up → ×1.69, 10 % down → ×1.0, 15 % down → ×1.19
/// (walking gently downhill is as quick as on the flat).
pub fn slope_factor(grade: f64) -> f32 {
    if grade.abs() <= STEEP_GRADE {
        return 1.0;
    }
    let s = grade.clamp(-0.5, 0.5);
    ((3.5 * ((s + 0.05).abs() - 0.05)).exp()).max(1.0) as f32
}

/// Cost factor of a surface (`None` when the value is unknown).
fn surface_factor(surface: &str) -> Option<f32> {
    Some(match surface {
        "asphalt"
        | "concrete"
        | "concrete:plates"
        | "concrete:lanes"
        | "paved"
        | "paving_stones"
        | "paving_stones:lanes"
        | "sett"
        | "bricks"
        | "metal"
        | "wood"
        | "rubber"
        | "tartan"
        | "artificial_turf"
        | "acrylic"
        | "carpet"
        | "stone" => 1.0,
        "compacted" | "fine_gravel" | "cobblestone" | "unhewn_cobblestone" | "grass_paver"
        | "chipseal" | "metal_grid" => 1.1,
        "unpaved" | "gravel" | "ground" | "dirt" | "earth" | "pebblestone" | "rock" | "rocks"
        | "shells" | "clay" => 1.2,
        "grass" | "woodchips" | "mud" | "snow" | "ice" | "salt" => 1.4,
        "sand" => 1.5,
        _ => return None,
    })
}

/// Cost factor of `sac_scale=*` (mountain hiking difficulty).
fn sac_factor(value: &str) -> f32 {
    match value {
        "hiking" => 1.1,
        "mountain_hiking" => 1.4,
        "demanding_mountain_hiking" => 1.8,
        "alpine_hiking" => 2.5,
        "demanding_alpine_hiking" => 3.0,
        "difficult_alpine_hiking" => 4.0,
        _ => 1.0,
    }
}

/// Decide whether a way with these tags is walkable and at what cost.
///
/// Rules (see `docs/routing.md`):
/// - only `highway=*` ways; `route=ferry`, `highway=construction|proposed|…`,
///   and `area=yes` on anything but pedestrian/footway/platform areas are out
///   (walkable areas are kept as their outline);
/// - `foot=*` overrides `access=*`; `foot=no|private|use_sidepath` and
///   `access=no|private` (without a permissive `foot`) exclude the way;
/// - motorway/trunk (and links) need an explicit permissive `foot`;
/// - other highway types need a permissive `foot` or a `sidewalk=*` that is
///   not `no`/`none`;
/// - car one-way is ignored; only `oneway:foot=yes|-1` restricts direction;
/// - cost factor = steps × surface (or track grade / path default) × incline
///   (Tobler) × `sac_scale`, capped at [`MAX_FACTOR`].
pub fn walk_profile(tags: &[(&str, &str)]) -> Option<WayProfile> {
    let highway = tag(tags, "highway")?;
    if NEVER_WALKABLE.contains(&highway) || tag(tags, "route") == Some("ferry") {
        return None;
    }
    let area = tag(tags, "area") == Some("yes");
    if area && !matches!(highway, "pedestrian" | "footway" | "platform") {
        return None;
    }
    let foot = permission(tag(tags, "foot"));
    let access = permission(tag(tags, "access"));
    match foot {
        Permission::No => return None,
        Permission::Yes => {}
        Permission::Unspecified => {
            if access == Permission::No || FOOT_TAG_REQUIRED.contains(&highway) {
                return None;
            }
            if !WALKABLE_BY_DEFAULT.contains(&highway) {
                let has_sidewalk = [
                    "sidewalk",
                    "sidewalk:both",
                    "sidewalk:left",
                    "sidewalk:right",
                ]
                .iter()
                .filter_map(|k| tag(tags, k))
                .any(|v| !matches!(v, "no" | "none" | "separate"));
                if !has_sidewalk {
                    return None;
                }
            }
        }
    }

    let mut factor: f32 = 1.0;
    if highway == "steps" {
        factor *= STEPS_FACTOR;
    }
    let ground = match tag(tags, "surface").and_then(surface_factor) {
        Some(f) => f,
        None if highway == "track" => match tag(tags, "tracktype") {
            Some("grade1") => 1.0,
            Some("grade2") => 1.1,
            Some("grade3") => 1.2,
            Some("grade4" | "grade5") => 1.3,
            _ => 1.15,
        },
        None if matches!(highway, "path" | "bridleway") => 1.1,
        None => 1.0,
    };
    factor *= ground;
    if let Some(s) = tag(tags, "sac_scale") {
        factor *= sac_factor(s);
    }
    let grade = if highway == "steps" {
        None
    } else {
        tag(tags, "incline").and_then(parse_incline)
    };
    let (mut fw, mut bw) = match grade {
        Some(g) => (factor * slope_factor(g), factor * slope_factor(-g)),
        None => (factor, factor),
    };
    fw = fw.min(MAX_FACTOR);
    bw = bw.min(MAX_FACTOR);
    match tag(tags, "oneway:foot") {
        Some("yes" | "true" | "1") => bw = f32::INFINITY,
        Some("-1" | "reverse") => fw = f32::INFINITY,
        _ => {}
    }
    Some(WayProfile {
        forward: fw,
        backward: bw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(tags: &[(&str, &str)]) -> Option<WayProfile> {
        walk_profile(tags)
    }

    #[test]
    fn plain_ways_are_walkable_both_ways_at_factor_one() {
        for hw in [
            "footway",
            "residential",
            "primary",
            "service",
            "living_street",
            "cycleway",
        ] {
            assert_eq!(
                p(&[("highway", hw)]),
                Some(WayProfile {
                    forward: 1.0,
                    backward: 1.0
                }),
                "{hw}"
            );
        }
    }

    #[test]
    fn car_oneway_is_ignored_but_foot_oneway_is_not() {
        let two_way = p(&[("highway", "residential"), ("oneway", "yes")]).unwrap();
        assert!(two_way.forward.is_finite() && two_way.backward.is_finite());
        let one = p(&[("highway", "footway"), ("oneway:foot", "yes")]).unwrap();
        assert!(one.forward.is_finite() && one.backward.is_infinite());
        let rev = p(&[("highway", "footway"), ("oneway:foot", "-1")]).unwrap();
        assert!(rev.forward.is_infinite() && rev.backward.is_finite());
    }

    #[test]
    fn access_and_foot_rules() {
        assert_eq!(p(&[("highway", "footway"), ("foot", "no")]), None);
        assert_eq!(p(&[("highway", "service"), ("access", "private")]), None);
        assert_eq!(p(&[("highway", "service"), ("access", "no")]), None);
        assert!(p(&[("highway", "service"), ("access", "no"), ("foot", "yes")]).is_some());
        assert_eq!(p(&[("highway", "primary"), ("foot", "use_sidepath")]), None);
        assert_eq!(p(&[("highway", "motorway")]), None);
        assert_eq!(p(&[("highway", "trunk")]), None);
        assert!(p(&[("highway", "trunk"), ("foot", "yes")]).is_some());
        assert!(p(&[("highway", "busway"), ("sidewalk", "both")]).is_some());
        assert_eq!(p(&[("highway", "busway"), ("sidewalk", "no")]), None);
        assert_eq!(p(&[("highway", "construction")]), None);
        assert_eq!(p(&[("highway", "construction"), ("foot", "yes")]), None);
        assert_eq!(p(&[("highway", "proposed")]), None);
        assert_eq!(p(&[("highway", "footway"), ("route", "ferry")]), None);
        assert_eq!(p(&[("route", "ferry")]), None);
        assert_eq!(p(&[("building", "yes")]), None);
        assert_eq!(p(&[("highway", "service"), ("area", "yes")]), None);
        assert!(p(&[("highway", "pedestrian"), ("area", "yes")]).is_some());
    }

    #[test]
    fn slow_ground_costs_more() {
        let steps = p(&[("highway", "steps")]).unwrap();
        assert!(steps.forward >= 1.6);
        let gravel = p(&[("highway", "footway"), ("surface", "gravel")]).unwrap();
        let sand = p(&[("highway", "path"), ("surface", "sand")]).unwrap();
        assert!(gravel.forward > 1.0 && sand.forward > gravel.forward);
        let alpine = p(&[("highway", "path"), ("sac_scale", "alpine_hiking")]).unwrap();
        assert!(alpine.forward >= 2.5);
        let steep = p(&[("highway", "footway"), ("incline", "12%")]).unwrap();
        assert!(
            steep.forward > steep.backward && steep.backward > 1.0,
            "{steep:?}"
        );
        let gentle = p(&[("highway", "footway"), ("incline", "5%")]).unwrap();
        assert_eq!(gentle.forward, 1.0);
        let capped = p(&[
            ("highway", "steps"),
            ("surface", "sand"),
            ("sac_scale", "difficult_alpine_hiking"),
        ])
        .unwrap();
        assert_eq!(capped.forward, MAX_FACTOR);
    }

    #[test]
    fn incline_parsing() {
        assert_eq!(parse_incline("10%"), Some(0.10));
        assert_eq!(parse_incline("-8 %"), Some(-0.08));
        assert_eq!(parse_incline("up"), Some(0.10));
        assert_eq!(parse_incline("steep"), None);
        assert_eq!(parse_incline("NaN%"), None);
        assert!((slope_factor(0.10) - 1.419).abs() < 0.01);
        assert!((slope_factor(-0.15) - 1.191).abs() < 0.01);
        assert_eq!(slope_factor(-0.10), 1.0);
        assert!((slope_factor(0.15) - 1.690).abs() < 0.01);
        assert_eq!(slope_factor(0.05), 1.0);
    }
}
