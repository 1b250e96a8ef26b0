#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Inline SVG plots for the HTML report: drawn here, so the page needs no script library and
/// no network. Plots take already-aggregated data (a few hundred points a series at most),
/// which keeps the page small however long the trace.
enum SVGPlot {
    static let width = 760.0
    static let height = 240.0
    /// Room for the axes' labels.
    static let left = 64.0
    static let right = 16.0
    static let top = 16.0
    static let bottom = 36.0
    /// Colour-blind-safe palette (Okabe-Ito).
    static let palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]

    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
    }

    /// Lines over a shared x axis (seconds of trace), one colour each, with a legend.
    static func lines(id: String, title: String, yLabel: String, series: [Series]) -> String {
        let xs = series.flatMap { $0.points.map(\.x) }
        let ys = series.flatMap { $0.points.map(\.y) }
        guard let xMin = xs.min(), let xMax = xs.max(), let yMax = ys.max() else {
            return empty(id: id, title: title)
        }
        let frame = Frame(xMin: xMin, xMax: xMax, yMin: 0, yMax: max(yMax, 1))
        var svg = open(id: id, title: title) + frame.axes(xLabel: "seconds into the trace", yLabel: yLabel)
        for (i, s) in series.enumerated() {
            let colour = palette[i % palette.count]
            let path = s.points.map { "\(f(frame.x($0.x))),\(f(frame.y($0.y)))" }.joined(separator: " ")
            svg +=
                "<polyline class=\"series\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" points=\"\(path)\">"
            svg += "<title>\(escapeXML(s.name))</title></polyline>\n"
        }
        return svg + "</svg>\n" + legend(series.map(\.name)) + "</figure>\n"
    }

    /// Vertical bars with a label under each.
    static func bars(id: String, title: String, yLabel: String, bars: [(label: String, value: Double)]) -> String {
        guard let yMax = bars.map(\.value).max(), !bars.isEmpty else { return empty(id: id, title: title) }
        let frame = Frame(xMin: 0, xMax: Double(bars.count), yMin: 0, yMax: max(yMax, 1))
        var svg = open(id: id, title: title) + frame.axes(xLabel: nil, yLabel: yLabel, xTicks: false)
        let slot = (width - left - right) / Double(bars.count)
        for (i, b) in bars.enumerated() {
            let x = left + Double(i) * slot + slot * 0.1
            let y = frame.y(b.value)
            svg += "<rect class=\"bar\" x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(slot * 0.8))\""
            svg += " height=\"\(f(height - bottom - y))\" fill=\"\(palette[0])\">"
            svg += "<title>\(escapeXML(b.label)): \(Int(b.value))</title></rect>\n"
            svg += "<text x=\"\(f(x + slot * 0.4))\" y=\"\(f(height - bottom + 14))\" text-anchor=\"middle\""
            svg += " font-size=\"10\">\(escapeXML(b.label))</text>\n"
        }
        return svg + "</svg></figure>\n"
    }

    /// One row per name, a tick at each time: when things happened.
    static func ticks(
        id: String,
        title: String,
        rows: [(name: String, times: [Double])],
        span: (Double, Double)
    )
        -> String
    {
        guard !rows.isEmpty else { return empty(id: id, title: title) }
        let rowHeight = 30.0
        let h = top + bottom + rowHeight * Double(rows.count)
        let frame = Frame(xMin: span.0, xMax: max(span.1, span.0 + 1e-9), yMin: 0, yMax: 1, height: h)
        var svg = open(id: id, title: title, height: h)
        svg += frame.axes(xLabel: "seconds into the trace", yLabel: nil, yTicks: false)
        for (i, row) in rows.enumerated() {
            let y = top + rowHeight * Double(i) + rowHeight / 2
            let colour = palette[i % palette.count]
            svg += "<text x=\"\(f(left + 4))\" y=\"\(f(y - 9))\" font-size=\"10\">"
            svg += "\(escapeXML(row.name)) (\(row.times.count))</text>\n"
            // Ticks closer than a pixel are one tick: the page stays small with many findings.
            var lastPixel = -1.0
            for t in row.times.sorted() {
                let x = frame.x(t).rounded()
                guard x != lastPixel else { continue }
                lastPixel = x
                svg += "<line class=\"tick\" x1=\"\(f(x))\" x2=\"\(f(x))\" y1=\"\(f(y - 5))\" y2=\"\(f(y + 9))\""
                svg += " stroke=\"\(colour)\"/>"
            }
            svg += "\n"
        }
        return svg + "</svg></figure>\n"
    }

    private static func open(id: String, title: String, height h: Double = height) -> String {
        "<figure><figcaption>\(escapeXML(title))</figcaption>\n<svg id=\"\(id)\" class=\"plot\""
            + " xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(f(width)) \(f(h))\" width=\"\(f(width))\""
            + " height=\"\(f(h))\" role=\"img\" aria-label=\"\(escapeXML(title))\">\n"
    }

    private static func empty(id: String, title: String) -> String {
        "<figure><figcaption>\(escapeXML(title))</figcaption><p id=\"\(id)\" class=\"empty\">"
            + "Nothing in the trace for this plot.</p></figure>\n"
    }

    /// An HTML legend under the plot: it wraps however long the names are.
    private static func legend(_ names: [String]) -> String {
        var h = "<ul class=\"legend\">"
        for (i, name) in names.enumerated() {
            h += "<li><span style=\"background:\(palette[i % palette.count])\"></span>\(escapeXML(name))</li>"
        }
        return h + "</ul>\n"
    }

    /// Plot area and axes with "nice" ticks.
    struct Frame {
        var xMin, xMax, yMin, yMax: Double
        var height = SVGPlot.height

        func x(_ v: Double) -> Double {
            left + (xMax == xMin ? 0.5 : (v - xMin) / (xMax - xMin)) * (width - left - right)
        }
        func y(_ v: Double) -> Double {
            height - bottom - (yMax == yMin ? 0 : (v - yMin) / (yMax - yMin)) * (height - top - bottom)
        }

        func axes(xLabel: String?, yLabel: String?, xTicks: Bool = true, yTicks: Bool = true) -> String {
            let x0 = left
            let y0 = height - bottom
            var svg = "<g class=\"axes\" font-size=\"10\" stroke=\"#888\">"
            svg += "<line x1=\"\(f(x0))\" y1=\"\(f(y0))\" x2=\"\(f(width - right))\" y2=\"\(f(y0))\"/>"
            svg += "<line x1=\"\(f(x0))\" y1=\"\(f(top))\" x2=\"\(f(x0))\" y2=\"\(f(y0))\"/></g>\n"
            if xTicks {
                for v in niceTicks(xMin, xMax) {
                    svg += "<text x=\"\(f(x(v)))\" y=\"\(f(y0 + 14))\" text-anchor=\"middle\" font-size=\"10\">"
                    svg += "\(label(v))</text>"
                }
            }
            if yTicks {
                for v in niceTicks(yMin, yMax) {
                    svg += "<text x=\"\(f(x0 - 4))\" y=\"\(f(y(v) + 3))\" text-anchor=\"end\" font-size=\"10\">"
                    svg += "\(label(v))</text>"
                    svg += "<line x1=\"\(f(x0))\" x2=\"\(f(width - right))\" y1=\"\(f(y(v)))\" y2=\"\(f(y(v)))\""
                    svg += " stroke=\"#eee\"/>"
                }
            }
            if let xLabel {
                svg += "<text x=\"\(f((x0 + width - right) / 2))\" y=\"\(f(height - 4))\" text-anchor=\"middle\""
                svg += " font-size=\"11\">\(escapeXML(xLabel))</text>"
            }
            if let yLabel {
                svg += "<text transform=\"translate(12 \(f((top + y0) / 2))) rotate(-90)\" text-anchor=\"middle\""
                svg += " font-size=\"11\">\(escapeXML(yLabel))</text>"
            }
            return svg + "\n"
        }
    }

    /// About five round values from `lo` to `hi`.
    static func niceTicks(_ lo: Double, _ hi: Double) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var v = (lo / step).rounded(.up) * step
        var out: [Double] = []
        while v <= hi + step * 1e-9, out.count < 12 {
            out.append(v)
            v += step
        }
        return out
    }

    static func label(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return cFormat("%.3g", v)
    }

    /// Coordinates with one decimal: enough for a 760-pixel plot, and half the bytes.
    static func f(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return r == r.rounded() ? String(Int64(r)) : String(r)
    }
}

/// Text for XML and HTML content and attributes.
func escapeXML(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}
