#include "common/html/templates.h"

namespace sonde::html {

namespace {

// Colours: green / amber / orange / red per state; the same names in the
// bars (ok, minor, major, down, none, maint). Dark mode swaps the ground.
constexpr char kStyle[] = R"css(
:root{--bg:#fff;--fg:#1d232b;--muted:#5c6773;--card:#f5f7f9;--line:#dde3e8;
--ok:#2e9d57;--minor:#d9a400;--major:#e8750c;--down:#d0342c;--none:#c5cdd4;--maint:#3b7dd8;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#12161b;--fg:#e4e8ec;--muted:#9aa5b1;--card:#1c2229;
--line:#2c343d;--none:#3a444f}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"DejaVu Sans",sans-serif}
main{max-width:56rem;margin:0 auto;padding:1rem}
h1,h2,h3,p,li{overflow-wrap:anywhere}h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}h3{font-size:1.05rem;margin:0 0 .25rem}
.overall{padding:.75rem 1rem;border-radius:.4rem;color:#fff;font-weight:600;margin:0}
.s-operational{--c:var(--ok)}.s-degraded{--c:var(--minor)}.s-partial_outage{--c:var(--major)}
.s-major_outage{--c:var(--down)}.s-maintenance{--c:var(--maint)}
.overall{background:var(--c)}.state{color:var(--c);font-weight:600;white-space:nowrap}
ul.services{list-style:none;margin:0;padding:0}
.service,.incident,article.maint{background:var(--card);border:1px solid var(--line);border-radius:.4rem;padding:.75rem 1rem;margin:.5rem 0}
.row{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap}
.name{font-weight:600;overflow-wrap:anywhere}.desc,.meta,.axis,.legend,footer{color:var(--muted);font-size:.875rem}
.scope,.progress{margin:.25rem 0}
svg.bars{display:block;width:100%;height:2.2rem;margin-top:.5rem}
rect.b{fill:var(--none)}rect.ok{fill:var(--ok)}rect.minor{fill:var(--minor)}rect.major{fill:var(--major)}
rect.down{fill:var(--down)}rect.maint{fill:var(--maint)}
rect.b:hover,rect.b:focus{opacity:.6;outline:none}
.axis{display:flex;justify-content:space-between}
.legend span{display:inline-block;margin-right:.75rem}
.legend i{display:inline-block;width:.75rem;height:.75rem;border-radius:2px;margin-right:.25rem;vertical-align:-1px}
i.ok{background:var(--ok)}i.minor{background:var(--minor)}i.major{background:var(--major)}
i.down{background:var(--down)}i.none{background:var(--none)}i.maint{background:var(--maint)}
ol.timeline{list-style:none;margin:.5rem 0 0;padding:0;border-left:2px solid var(--line)}
ol.timeline li{margin:0 0 .4rem;padding-left:.75rem;overflow-wrap:anywhere}
ol.timeline li.human{border-left:3px solid var(--maint);margin-left:-2px}
time{color:var(--muted);font-size:.875rem}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
td.bars{width:55%;min-width:10rem}
a{color:var(--maint)}.lbl{display:none}
@media (max-width:40rem){main{padding:.5rem}
table.avail,table.avail tbody,table.avail tr,table.avail td{display:block;width:100%}
table.avail thead{display:none}table.avail tr{border-bottom:1px solid var(--line);padding:.5rem 0}
table.avail td{border:0;padding:.1rem 0}.lbl{display:inline}}
)css";

// `bars`: a BarsView() map. The <title> of each bar is its tooltip on
// hover; tabindex makes it reachable (and announced) by keyboard.
constexpr char kBars[] =
    R"(<svg class="bars" viewBox="0 0 {{width}} 34" preserveAspectRatio="none" role="img" )"
    R"(aria-label="{{label}}">{{#bars}}<rect class="b {{cls}}" x="{{x}}" y="0" width="4" )"
    R"(height="34" rx="1" tabindex="0" data-day="{{day}}"><title>{{tip}}</title></rect>)"
    R"({{/bars}}</svg>)";

// The start of every page, up to its <h1>: phone-width viewport, both
// colour schemes, the style, the status page's Atom feed link when `feed`.
constexpr char kHead[] = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{{title}}</title>{{#feed}}<link rel="alternate" type="application/atom+xml" title="Incidents" href="/status/feed.atom">
{{/feed}}<style>{{>style}}</style>
</head>
<body>
<main>
<header>
<h1>{{title}}</h1>
)";

// The colours of the bars, under every row of them.
constexpr char kLegend[] =
    R"(<span><i class="ok"></i>&#8805; 99.9 %</span><span><i class="minor"></i>&#8805; 99 %</span>)"
    R"(<span><i class="major"></i>&#8805; 95 %</span><span><i class="down"></i>&lt; 95 %</span>)"
    R"(<span><i class="maint"></i>maintenance</span><span><i class="none"></i>no data</span>)";

}  // namespace

const char kStatusPageTemplate[] = R"html({{>head}}
<p class="overall s-{{overall_name}}" id="overall" data-state="{{overall_name}}">{{overall_label}}</p>
</header>
{{#has_maintenance}}
<section id="maintenance">
<h2>Scheduled maintenance</h2>
{{#maintenance}}
<article class="maint">
<h3>{{name}}</h3>
<p class="meta">{{when}}{{#ongoing}} &#8212; in progress{{/ongoing}}</p>
{{#has_reason}}<p>{{reason}}</p>{{/has_reason}}
<p>Affects: {{services}}</p>
</article>
{{/maintenance}}
</section>
{{/has_maintenance}}
<section id="services">
{{#groups}}
<h2>{{name}}</h2>
<ul class="services">
{{#services}}
<li class="service" id="service-{{service}}" data-service="{{service}}" data-state="{{state_name}}">
<div class="row"><span class="name">{{name}}</span><span class="state s-{{state_name}}">{{state_label}}</span></div>
{{#has_description}}<p class="desc">{{description}}</p>{{/has_description}}
{{#has_regions}}<p class="scope">Affected regions: <span class="regions">{{regions}}</span></p>{{/has_regions}}
{{#has_progress}}<p class="progress">{{progress}}</p>{{/has_progress}}
{{#daybars}}{{>bars}}{{/daybars}}
<div class="axis"><span>{{days}} days ago</span><span>{{availability}}</span><span>Today</span></div>
</li>
{{/services}}
</ul>
{{/groups}}
<p class="legend" id="legend">{{>legend}}<br>{{day_source}} Hover over or focus a day for its number.</p>
</section>
<section id="incidents">
<h2>Incidents</h2>
{{^has_incidents}}<p>No incidents in the last {{recent_days}} days.</p>{{/has_incidents}}
{{#incidents}}
<article class="incident" id="incident-{{anchor}}" data-state="{{state}}" data-kind="{{kind}}">
<h3>{{title}}</h3>
<p class="meta">{{state_text}} &#183; {{stage}} &#183; since <time datetime="{{opened_iso}}">{{opened}}</time>{{#has_regions}} &#183; regions: {{regions}}{{/has_regions}}</p>
{{#has_evidence}}<p class="meta evidence">{{evidence}}</p>{{/has_evidence}}
<ol class="timeline">
{{#timeline}}<li class="line{{#human}} human{{/human}}" data-stage="{{stage}}"><time datetime="{{iso}}">{{when}}</time> <strong>{{stage}}</strong> &#8212; <span class="text">{{text}}</span></li>
{{/timeline}}
</ol>
</article>
{{/incidents}}
</section>
<footer>
<p>Updated <time datetime="{{generated_iso}}">{{generated}}</time>. Also as <a href="/status.json">JSON</a> and an <a href="/status/feed.atom">Atom feed</a>.</p>
</footer>
</main>
</body>
</html>
)html";

const char kAtomTemplate[] = R"xml(<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
<title>{{title}}</title>
<id>urn:sonde:status</id>
<updated>{{updated}}</updated>
<link rel="self" href="/status/feed.atom"/>
<link rel="alternate" type="text/html" href="/status"/>
<author><name>Sonde</name></author>
{{#entries}}
<entry>
<id>urn:sonde:{{id}}</id>
<title>{{title}}</title>
<updated>{{updated}}</updated>
<link rel="alternate" type="text/html" href="/status#incident-{{anchor}}"/>
<content type="text">{{content}}</content>
</entry>
{{/entries}}
</feed>
)xml";

const char kBadgeTemplate[] =
    R"(<svg xmlns="http://www.w3.org/2000/svg" width="{{width}}" height="20" role="img" )"
    R"(aria-label="{{label}}: {{message}}"><title>{{label}}: {{message}}</title>)"
    R"(<rect width="{{label_width}}" height="20" fill="#555"/>)"
    R"(<rect x="{{label_width}}" width="{{message_width}}" height="20" fill="{{color}}"/>)"
    R"(<g fill="#fff" text-anchor="middle" font-family="DejaVu Sans,Verdana,sans-serif" )"
    R"(font-size="11"><text x="{{label_x}}" y="14">{{label}}</text>)"
    R"(<text x="{{message_x}}" y="14">{{message}}</text></g></svg>
)";

const char kReportTemplate[] = R"html({{>head}}
<p class="meta">From <time datetime="{{from_iso}}">{{from}}</time> to <time datetime="{{to_iso}}">{{to}}</time>; generated <time datetime="{{generated_iso}}">{{generated}}</time>.</p>
</header>
<section id="availability">
<h2>Availability per check and region</h2>
<table class="avail">
<thead><tr><th>Check</th><th>Region</th><th>Availability</th><th>Reachability</th><th>Days</th></tr></thead>
<tbody>
{{#rows}}
<tr class="check" data-check="{{check}}" data-region="{{region}}">
<td><span class="name">{{check}}</span><br><span class="meta">{{service}}</span></td>
<td><span class="meta lbl">region</span> {{region}}</td>
<td><span class="meta lbl">availability</span> {{availability}}</td>
<td><span class="meta lbl">reachability</span> {{reachability}}<br><span class="meta">{{failures}} of {{probes}} probes failed</span></td>
<td class="bars">{{#daybars}}{{>bars}}{{/daybars}}</td>
</tr>
{{/rows}}
</tbody>
</table>
<p class="legend" id="legend">{{>legend}}</p>
</section>
<section id="incidents">
<h2>Incidents</h2>
{{^has_incidents}}<p>No incidents in this window.</p>{{/has_incidents}}
{{#has_incidents}}
<table class="avail">
<thead><tr><th>Opened</th><th>Incident</th><th>Duration</th><th>Evidence</th></tr></thead>
<tbody>
{{#incidents}}
<tr class="incident" data-id="{{id}}"><td><time datetime="{{opened_iso}}">{{opened}}</time></td><td>{{kind}} &#183; {{service}}{{#has_regions}} &#183; {{regions}}{{/has_regions}}<br><span class="meta">{{id}}</span></td><td>{{duration}}</td><td class="evidence">{{evidence}}</td></tr>
{{/incidents}}
</tbody>
</table>
{{/has_incidents}}
</section>
<footer id="accounting">
<h2>How this report counts</h2>
<ul>
{{#footer}}<li>{{line}}</li>
{{/footer}}
</ul>
</footer>
</main>
</body>
</html>
)html";

const std::map<std::string, std::string>& Partials() {
  static const auto* const kPartials = new std::map<std::string, std::string>{
      {"style", kStyle}, {"bars", kBars}, {"legend", kLegend}, {"head", kHead}};
  return *kPartials;
}

}  // namespace sonde::html
