// SPDX-License-Identifier: LGPL-3.0-only

package variorum

// The entry points Lib can call. Both are int f(char **json): they set *json
// to a string from jansson's json_dumps, which the caller frees with free(),
// and return 0, or -1 on failure.
const (
	// SymbolPowerJSON is Variorum v0.8's entry point: {hostname: {...}} with
	// socket_N objects.
	SymbolPowerJSON = "variorum_get_power_json"
	// SymbolNodePowerJSON is Variorum v0.6 and v0.7's entry point: a flat
	// object with power_*_watts_socket_N keys. (In v0.5 and before it took a
	// jansson json_t* and is not usable.)
	SymbolNodePowerJSON = "variorum_get_node_power_json"

	// symbolVersion (char *variorum_get_current_version(void)) appeared in
	// v0.6. Only its presence matters: every release up to v0.8.0 returns
	// "0.5.0", the CMake project version that was never bumped.
	symbolVersion = "variorum_get_current_version"
)

// defaultNames are the library names Open("") tries, in order. Variorum's
// CMake build sets no SONAME version, so libvariorum.so is the usual one.
var defaultNames = []string{"libvariorum.so", "libvariorum.so.0"}
