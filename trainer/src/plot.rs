//! `loss.png`: the training loss per step (blue) and the held-out NLL (red
//! dots) from `metrics.jsonl`, drawn without any font or plotting dependency:
//! axes with tick marks and a 3×5 pixel digit font for the step and loss ranges.

use std::path::Path;

const W: usize = 800;
const H: usize = 480;
const LEFT: usize = 70;
const BOTTOM: usize = 40;
const TOP: usize = 20;
const RIGHT: usize = 20;

/// 3×5 glyphs for `0-9 . - e` (rows top to bottom, 3 bits each).
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        'e' => [0, 7, 7, 4, 7],
        _ => return None,
    })
}

struct Canvas(Vec<u8>);

impl Canvas {
    fn set(&mut self, x: i64, y: i64, rgb: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < W && (y as usize) < H {
            let i = (y as usize * W + x as usize) * 3;
            self.0[i..i + 3].copy_from_slice(&rgb);
        }
    }

    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), rgb: [u8; 3]) {
        let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
        for i in 0..=n {
            let t = i as f64 / n as f64;
            self.set(
                (x0 + t * (x1 - x0)).round() as i64,
                (y0 + t * (y1 - y0)).round() as i64,
                rgb,
            );
        }
    }

    fn text(&mut self, x: i64, y: i64, s: &str) {
        let scale = 2;
        for (k, c) in s.chars().enumerate() {
            let Some(g) = glyph(c) else { continue };
            for (row, bits) in g.iter().enumerate() {
                for col in 0..3 {
                    if bits & (4 >> col) != 0 {
                        for dy in 0..scale {
                            for dx in 0..scale {
                                let px = x + (k as i64 * 4 + col) * scale + dx;
                                self.set(px, y + row as i64 * scale + dy, [0, 0, 0]);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn label(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-2) {
        format!("{v:.1e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Data-to-pixel mapping with axes drawn.
struct Axes {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Axes {
    /// Axes fitting `points` (x from `x_min`), drawn with 5 ticks each.
    fn draw(c: &mut Canvas, points: &[(f64, f64)], x_min: Option<f64>) -> Axes {
        let x0 = x_min.unwrap_or_else(|| points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min));
        let x1 = points.iter().map(|p| p.0).fold(x0 + 1.0, f64::max);
        let lo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let hi = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        let (y0, y1) = if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) };
        let a = Axes { x0, x1, y0, y1 };
        let black = [0, 0, 0];
        let (l, b) = (LEFT as f64, (H - BOTTOM) as f64);
        c.line((l, TOP as f64), (l, b), black);
        c.line((l, b), ((W - RIGHT) as f64, b), black);
        for i in 0..=4 {
            let f = f64::from(i) / 4.0;
            let (xv, yv) = (x0 + f * (x1 - x0), y0 + f * (y1 - y0));
            c.line((a.px(xv), b), (a.px(xv), b + 5.0), black);
            c.text(a.px(xv) as i64 - 8, b as i64 + 10, &label(xv.round()));
            c.line((l - 5.0, a.py(yv)), (l, a.py(yv)), black);
            c.text(4, a.py(yv) as i64 - 5, &label(yv));
        }
        a
    }

    fn px(&self, x: f64) -> f64 {
        LEFT as f64 + (x - self.x0) / (self.x1 - self.x0) * (W - LEFT - RIGHT) as f64
    }

    fn py(&self, y: f64) -> f64 {
        TOP as f64 + (1.0 - (y - self.y0) / (self.y1 - self.y0)) * (H - TOP - BOTTOM) as f64
    }
}

impl Canvas {
    fn dot(&mut self, x: f64, y: f64, r: i64, rgb: [u8; 3]) {
        for dx in -r..=r {
            for dy in -r..=r {
                if dx * dx + dy * dy <= r * r {
                    self.set(x as i64 + dx, y as i64 + dy, rgb);
                }
            }
        }
    }

    fn save(&self, png: &Path) -> std::io::Result<()> {
        let tmp = png.with_extension("png.tmp");
        {
            let file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            let mut enc = png::Encoder::new(file, W as u32, H as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().map_err(std::io::Error::other)?;
            w.write_image_data(&self.0).map_err(std::io::Error::other)?;
        }
        std::fs::rename(&tmp, png)
    }
}

/// The colours of [`lines_png`]'s series, in order (matplotlib's first ten).
pub const SERIES_COLOURS: [(&str, [u8; 3]); 10] = [
    ("blue", [31, 119, 180]),
    ("orange", [255, 127, 14]),
    ("green", [44, 160, 44]),
    ("red", [214, 39, 40]),
    ("purple", [148, 103, 189]),
    ("brown", [140, 86, 75]),
    ("pink", [227, 119, 194]),
    ("grey", [127, 127, 127]),
    ("olive", [188, 189, 34]),
    ("cyan", [23, 190, 207]),
];

/// One point of a [`lines_png`] series: `x`, `y` and, where known, an
/// interval `(lo, hi)` around `y`, drawn as a vertical bar.
pub type Point = (f64, f64, Option<(f64, f64)>);

/// Draws one line with dots per series (colours in [`SERIES_COLOURS`] order;
/// the font has digits only, so series are told apart by colour) into `png`;
/// a point's interval is a vertical bar with caps, each series' bars shifted
/// a few pixels sideways so that overlapping ones stay apart.
pub fn lines_png(series: &[(String, Vec<Point>)], png: &Path) -> std::io::Result<()> {
    let finite = |p: &&Point| p.0.is_finite() && p.1.is_finite();
    let bar = |p: &Point| p.2.filter(|(lo, hi)| lo.is_finite() && hi.is_finite());
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|(_, p)| p.iter().filter(finite))
        .flat_map(|p| {
            let (lo, hi) = bar(p).unwrap_or((p.1, p.1));
            [(p.0, p.1), (p.0, lo), (p.0, hi)]
        })
        .collect();
    let mut c = Canvas(vec![255; W * H * 3]);
    if !all.is_empty() {
        let a = Axes::draw(&mut c, &all, None);
        for (k, (_, points)) in series.iter().enumerate() {
            let rgb = SERIES_COLOURS[k % SERIES_COLOURS.len()].1;
            let shift = (k as f64 - (series.len() as f64 - 1.0) / 2.0) * BAR_SHIFT;
            let pts: Vec<(f64, f64)> = points.iter().filter(finite).map(|p| (a.px(p.0), a.py(p.1))).collect();
            for w in pts.windows(2) {
                c.line(w[0], w[1], rgb);
            }
            for &(x, y) in &pts {
                c.dot(x, y, 3, rgb);
            }
            for p in points.iter().filter(finite) {
                if let Some((lo, hi)) = bar(p) {
                    let x = a.px(p.0) + shift;
                    c.line((x, a.py(lo)), (x, a.py(hi)), rgb);
                    for y in [a.py(lo), a.py(hi)] {
                        c.line((x - 3.0, y), (x + 3.0, y), rgb);
                    }
                }
            }
        }
    }
    c.save(png)
}

/// Pixels between the interval bars of neighbouring series.
const BAR_SHIFT: f64 = 6.0;

/// Draws the curves of `metrics` into `png`. Returns the number of training points drawn.
pub fn loss_png(metrics: &Path, png: &Path) -> std::io::Result<usize> {
    let text = std::fs::read_to_string(metrics)?;
    let (mut train, mut eval) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(step) = v["step"].as_f64() else { continue };
        if let Some(l) = v["loss"].as_f64().filter(|l| l.is_finite()) {
            train.push((step, l));
        }
        if let Some(l) = v["eval"]["nll"].as_f64().filter(|l| l.is_finite()) {
            eval.push((step, l));
        }
    }
    let all: Vec<(f64, f64)> = train.iter().chain(&eval).copied().collect();
    let mut c = Canvas(vec![255; W * H * 3]);
    if !all.is_empty() {
        let a = Axes::draw(&mut c, &all, Some(0.0));
        for w in train.windows(2) {
            c.line(
                (a.px(w[0].0), a.py(w[0].1)),
                (a.px(w[1].0), a.py(w[1].1)),
                [31, 119, 180],
            );
        }
        for (x, y) in &eval {
            c.dot(a.px(*x), a.py(*y), 3, [214, 39, 40]);
        }
    }
    c.save(png)?;
    Ok(train.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_bars_beside_their_point() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("p.png");
        let series = vec![
            ("a".to_owned(), vec![(0.0, 1.0, Some((0.5, 1.5))), (10.0, 2.0, None)]),
            (
                "b".to_owned(),
                vec![(0.0, 1.2, None), (10.0, 1.8, Some((f64::NAN, 2.0)))],
            ),
        ];
        lines_png(&series, &png).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        let at = |x: f64, y: f64| {
            let i = (y.round() as usize * W + x.round() as usize) * 3;
            [buf[i], buf[i + 1], buf[i + 2]]
        };
        // The axes span the intervals: y from 0.5 to 2.0.
        let a = Axes {
            x0: 0.0,
            x1: 10.0,
            y0: 0.5,
            y1: 2.0,
        };
        let blue = SERIES_COLOURS[0].1;
        let x = a.px(0.0) - BAR_SHIFT / 2.0;
        for y in [0.6, 0.8, 1.3, 1.45] {
            assert_eq!(at(x, a.py(y)), blue, "the bar at y = {y}");
        }
        assert_eq!(at(x + 2.0, a.py(0.5)), blue, "a cap");
        assert_eq!(at(x, a.py(1.75)), [255; 3], "nothing past the interval");
        // No bar where the interval is unknown or not finite.
        let orange_x = a.px(10.0) + BAR_SHIFT / 2.0;
        assert_eq!(at(orange_x, a.py(1.95)), [255; 3]);
    }
}
