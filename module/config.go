// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/config"
)

// Where the module's settings come from (flux-power-monitor(7)): the
// [power-monitor] table of the instance's Flux configuration, which the
// broker hands the module at load (flux_get_conf) and again at each
// `flux config reload` (power-monitor.config-reload), then the module
// arguments, which override it.

// topicConfigReload is the request the broker's config module sends every
// loaded module when the configuration changes (flux config reload, flux
// config load); an error answer fails the reload, and the configuration
// stays as it was.
const topicConfigReload = "power-monitor.config-reload"

// settings are the options of the [power-monitor] table (config.TableOf)
// and the module arguments, completed with what the module adds: the
// libvariorum configure found, the spool directory under the instance's
// statedir. The warnings are logged.
func (m *monitor) settings(table json.RawMessage) (config.Options, error) {
	o, warnings, err := config.Parse(table, m.args, os.Getenv)
	for _, w := range warnings {
		m.h.Log(fluxbind.LogWarning, w)
	}
	if err != nil {
		return o, err
	}
	if o.VariorumLib == "" {
		o.VariorumLib = defaultVariorumLib
	}
	if o.Export.Spooled() {
		o.Export.SpoolDir = m.spoolDir(o.Export.SpoolDir)
	}
	return o, nil
}

// configReloadCB applies a new configuration: live, without unloading and
// without losing the ring (node.Reconfigure says what can change). A bad
// key or value, or a change that cannot be applied live, is refused with
// one line saying why; the old settings stay. The module unloads itself,
// once it has answered, where the table turns it off: enable = false, or,
// for a module the table's enable = true had loaded (modprobe), no
// enable = true any more (the table dropped, as by `flux config load
// </dev/null`). A module loaded by hand stays for anything but
// enable = false.
func (m *monitor) configReloadCB(msg *fluxbind.Msg) {
	_, payload, err := msg.Decode()
	if err != nil {
		m.h.RespondError(msg, syscall.EPROTO, err.Error())
		return
	}
	table, err := config.TableOf([]byte(payload))
	if err != nil {
		m.h.RespondError(msg, syscall.EPROTO, err.Error())
		return
	}
	if config.Disabled(table) || (m.byTable && !config.Enabled(table)) {
		m.h.Respond(msg, nil)
		m.h.Log(fluxbind.LogNotice, fmt.Sprintf("[%s] %s is no longer true: unloading", config.Table, config.EnableKey))
		m.h.Stop() // mod_main returns 0: the broker removes the module
		return
	}
	o, err := m.settings(table)
	if err == nil {
		err = m.node.Reconfigure(o) // (stores the samples --batch holds back first)
	}
	if err != nil {
		m.h.Log(fluxbind.LogErr, "configuration not applied: "+err.Error())
		m.h.RespondError(msg, syscall.EINVAL, err.Error())
		return
	}
	if err := m.h.UpdateConf(msg); err != nil {
		m.h.Log(fluxbind.LogErr, err.Error())
	}
	changed := config.Changed(m.opts, o)
	m.opts = o
	m.post.Flush() // the node's lines about the change, before this one
	if err := m.followJobs(); err != nil {
		m.h.Log(fluxbind.LogErr, "following jobs for the exports: "+err.Error())
	}
	if len(changed) > 0 {
		m.h.Log(fluxbind.LogInfo, "configuration reloaded: "+strings.Join(changed, "; ")+"; source: "+m.sourceName())
	}
	m.warnNoSource()
	m.h.Respond(msg, nil)
}
