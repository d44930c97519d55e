// SPDX-License-Identifier: LGPL-3.0-only

package prom

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The examples shipped in etc/ for sites that use Prometheus and Grafana.
const (
	dashboardFile  = "../../../etc/grafana/power-monitor-dashboard.json"
	promConfigFile = "../../../etc/prometheus/prometheus.yml"
)

// metricNames are the series this package produces.
var metricNames = map[string]bool{
	PowerName: true, EnergyName: true,
	JobEnergyName: true, JobPowerName: true, JobDurationName: true, JobCoverageName: true, JobNodeEnergyName: true,
	JobNodesEnergyName: true, JobNodesPowerName: true,
	ExportDelivered: true, ExportDropped: true, ExportPending: true, ExportSpoolBytes: true, ExportUp: true,
	LastSampleName: true,
}

var (
	metricRE = regexp.MustCompile(`power_monitor_[a-z_]+`)
	// Grafana's variable syntaxes: $name, ${name}, ${name:format}, [[name]].
	variableRE = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]`)
	// The variables the dashboard's queries may use.
	dashboardVars = map[string]bool{"host": true, "jobid": true, "__range": true}
)

// dashboardExprs are the queries of every panel's targets, rows' nested
// panels included, each named by its panel's title.
func dashboardExprs(t *testing.T, panels []any, out map[string][]string) {
	t.Helper()
	for _, p := range panels {
		panel, ok := p.(map[string]any)
		if !ok {
			t.Fatalf("%s: a panel is %T, not an object", dashboardFile, p)
		}
		title, _ := panel["title"].(string)
		if targets, ok := panel["targets"].([]any); ok {
			for _, tg := range targets {
				target, ok := tg.(map[string]any)
				if !ok {
					t.Fatalf("%s: panel %q: a target is %T, not an object", dashboardFile, title, tg)
				}
				if expr, ok := target["expr"].(string); ok {
					out[title] = append(out[title], expr)
				}
			}
		}
		if nested, ok := panel["panels"].([]any); ok {
			dashboardExprs(t, nested, out)
		}
	}
}

// balanced says why the brackets of a PromQL expression do not pair up,
// outside its string literals; "" when they do.
func balanced(expr string) string {
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	var stack []rune
	var quote rune
	escaped := false
	for i, r := range expr {
		switch {
		case quote != 0:
			if escaped {
				escaped = false
			} else if r == '\\' && quote != '`' {
				escaped = true
			} else if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'' || r == '`':
			quote = r
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case r == ')' || r == ']' || r == '}':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return "unexpected " + string(r) + " at offset " + strconv.Itoa(i)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if quote != 0 {
		return "unterminated string"
	}
	if len(stack) > 0 {
		return "unclosed " + string(stack[len(stack)-1])
	}
	return ""
}

// TestGrafanaDashboardQueries checks that the example dashboard asks only
// for series this package produces, so renaming one breaks the test, and
// that its queries are well formed. (The PromQL parser of
// github.com/prometheus/prometheus would bring modules the build does not
// otherwise need; the bracket and variable checks stand in for it, and
// `promtool check rules` on the expressions, variables substituted, is the
// thorough check.)
func TestGrafanaDashboardQueries(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if title, _ := dash["title"].(string); title == "" {
		t.Errorf("%s: no title", dashboardFile)
	}
	panels, ok := dash["panels"].([]any)
	if !ok || len(panels) == 0 {
		t.Fatalf("%s: no panels array", dashboardFile)
	}
	exprs := map[string][]string{}
	dashboardExprs(t, panels, exprs)
	if len(exprs) == 0 {
		t.Fatalf("%s: no panel has a query", dashboardFile)
	}

	used := map[string]bool{}
	n := 0
	for title, list := range exprs {
		for _, expr := range list {
			n++
			names := metricRE.FindAllString(expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: %q names no power_monitor_ series", title, expr)
			}
			for _, name := range names {
				used[name] = true
				if !metricNames[name] {
					t.Errorf("panel %q: %q: %s is not a series the exporter produces", title, expr, name)
				}
			}
			if why := balanced(expr); why != "" {
				t.Errorf("panel %q: %q: %s", title, expr, why)
			}
			for _, m := range variableRE.FindAllStringSubmatch(expr, -1) {
				v := m[1] + m[2] + m[3]
				if !dashboardVars[v] {
					t.Errorf("panel %q: %q: variable %s is none of $host, $jobid, $__range", title, expr, m[0])
				}
			}
		}
	}
	// Every user-facing series should be on the dashboard; a new one
	// added to the package is a reminder to show it.
	var missing []string
	for name := range metricNames {
		if !used[name] && name != ExportSpoolBytes {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Logf("series not on the dashboard: %s", strings.Join(missing, ", "))
	}
	t.Logf("%d queries in %d panels checked", n, len(exprs))
}

// TestPrometheusExampleConfig checks the example Prometheus configuration
// with promtool, where it is installed.
func TestPrometheusExampleConfig(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skipf("promtool not on PATH: %s not checked (install Prometheus's promtool to check it)", promConfigFile)
	}
	out, err := exec.Command(promtool, "check", "config", promConfigFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config %s: %v\n%s", promConfigFile, err, out)
	}
}
