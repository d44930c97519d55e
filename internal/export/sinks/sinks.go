// SPDX-License-Identifier: LGPL-3.0-only

// Package sinks builds the exporter that config.Export asks for (MQTT,
// Prometheus remote-write, the /metrics endpoint) and runs it, for the
// module and the agent alike.
package sinks

import (
	"fmt"
	"os"
	"time"

	"github.com/flux-framework/power-monitor/internal/config"
	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/export/mqtt"
	"github.com/flux-framework/power-monitor/internal/export/prom"
)

// Running is a started exporter and its /metrics server.
type Running struct {
	*export.Exporter
	server *prom.Server
	flush  time.Duration
	names  []string
}

// Start builds every sink e asks for, opens their spools under e.SpoolDir
// and starts delivering. rank < 0 outside Flux. Nothing is left running on
// error.
func Start(e config.Export, meta export.Meta, prov export.Provenance, log func(export.Severity, string)) (*Running, error) {
	var list []export.Sink
	var names []string
	if e.MQTTBroker != "" {
		id := fmt.Sprintf("power-monitor-%s-%d", meta.Hostname, os.Getpid())
		if meta.Rank >= 0 {
			id = fmt.Sprintf("power-monitor-%s-r%d-%d", meta.Hostname, meta.Rank, os.Getpid())
		}
		s, err := mqtt.New(mqtt.Options{
			Broker: e.MQTTBroker, Port: e.MQTTPort, Username: e.MQTTUsername, Password: e.MQTTPassword,
			TopicPrefix: e.MQTTTopicPrefix, QoS: byte(e.MQTTQoS),
			CAFile: e.MQTTCA, CertFile: e.MQTTCert, KeyFile: e.MQTTKey, ClientID: id,
		})
		if err != nil {
			return nil, err
		}
		list = append(list, s)
		names = append(names, fmt.Sprintf("%s topics %s/READER/data, QoS %d", s.Name(), s.Prefix(), e.MQTTQoS))
	}
	if e.RemoteWrite != "" {
		// (config.Export.Resolve read the password and the token)
		o := prom.RemoteWriteOptions{URL: e.RemoteWrite, Username: e.RemoteWriteUsername, CAFile: e.RemoteWriteCA,
			Password: e.RemoteWritePassword, BearerToken: e.RemoteWriteToken}
		w, err := prom.NewRemoteWrite(o)
		if err != nil {
			return nil, err
		}
		list = append(list, w)
		names = append(names, w.Name())
	}
	var metrics *prom.Metrics
	var observers []export.Observer
	if e.MetricsListen != "" {
		metrics = prom.NewMetrics()
		observers = append(observers, metrics)
	}
	ex, err := export.New(export.Config{SpoolDir: e.SpoolDir, SpoolMaxBytes: e.SpoolMax, Log: log}, meta, prov, list, observers)
	if err != nil {
		for _, s := range list {
			s.Close()
		}
		return nil, err
	}
	r := &Running{Exporter: ex, flush: e.FlushTimeout, names: names}
	if metrics != nil {
		metrics.SetStats(ex.Stats)
		srv, err := prom.Serve(e.MetricsListen, metrics, meta.Rank < 0)
		if err != nil {
			ex.Stop(0)
			return nil, fmt.Errorf("option --prometheus-listen: %w", err)
		}
		r.server = srv
		r.names = append(r.names, "prometheus /metrics on http://"+srv.Addr()+"/metrics")
	}
	ex.Start()
	return r, nil
}

// Names say what the exporter publishes to, for the log.
func (r *Running) Names() []string { return r.names }

// MetricsAddr is where /metrics listens; "" without it.
func (r *Running) MetricsAddr() string {
	if r.server == nil {
		return ""
	}
	return r.server.Addr()
}

// Stop delivers what is spooled (up to the flush timeout) and stops.
func (r *Running) Stop() {
	r.Exporter.Stop(r.flush)
	if r.server != nil {
		r.server.Close()
	}
}
