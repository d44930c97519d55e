// SPDX-License-Identifier: LGPL-3.0-only

//go:build cgo

package variorum

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <link.h>
#endif

// pm_open loads path. On failure it returns NULL and sets *err to a malloc'd
// copy of dlerror(), read in the same C call so that no other dl* call on
// this thread can replace it.
static void *pm_open(const char *path, char **err)
{
	void *h;
	const char *e;

	*err = NULL;
	dlerror();
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		e = dlerror();
		*err = strdup(e != NULL ? e : "dlopen failed");
	}
	return h;
}

static void *pm_sym(void *h, const char *name)
{
	dlerror();
	return dlsym(h, name);
}

// pm_where returns the file the handle was loaded from, or NULL.
static const char *pm_where(void *h)
{
#if defined(__linux__) && defined(RTLD_DI_LINKMAP)
	struct link_map *lm = NULL;
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm != NULL &&
	    lm->l_name != NULL && lm->l_name[0] != '\0')
		return lm->l_name;
#endif
	return NULL;
}

// pm_result is what pm_call returns: by value, so that Go passes C no
// pointer of its own (which would move the Go variable to the heap).
struct pm_result {
	int rc;
	char *out;
	size_t len;
};

// pm_call calls int fn(char **out), Variorum's JSON entry point.
static struct pm_result pm_call(void *fn)
{
	struct pm_result r = { 0, NULL, 0 };
	r.rc = ((int (*)(char **))fn)(&r.out);
	if (r.out != NULL)
		r.len = strlen(r.out);
	return r;
}

static int pm_close(void *h, char **err)
{
	int rc;
	const char *e;

	*err = NULL;
	dlerror();
	rc = dlclose(h);
	if (rc != 0) {
		e = dlerror();
		*err = strdup(e != NULL ? e : "dlclose failed");
	}
	return rc;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"
)

// Lib is libvariorum loaded into the process with dlopen. It holds no state
// outside itself; its methods may be called from any goroutine, one at a
// time or not (a Lib serialises its own calls).
//
// Variorum itself keeps process-wide state (and dlopen returns the same
// library for the same file), so two Libs of one library must not be used
// from two goroutines at once.
type Lib struct {
	mu     sync.Mutex
	handle unsafe.Pointer // nil once closed
	fn     unsafe.Pointer
	path   string
	symbol string
}

// Open loads libvariorum from path with dlopen(RTLD_NOW|RTLD_LOCAL) and finds
// its power JSON entry point: variorum_get_power_json (Variorum v0.8 and
// later), else variorum_get_node_power_json (v0.6, v0.7: same signature).
// Before v0.6 the latter took a jansson json_t*; such a library (told apart by
// its lack of variorum_get_current_version, added in v0.6) is refused rather
// than called with the wrong argument.
//
// path "" tries libvariorum.so, then libvariorum.so.0, through the dynamic
// linker's search path (LD_LIBRARY_PATH, the runpath, the system
// directories). A path with a slash is loaded as given. The error names every
// path tried and what dlerror() said.
func Open(path string) (*Lib, error) {
	names := []string{path}
	if path == "" {
		names = defaultNames
	}
	var tried []string
	for _, name := range names {
		h, err := dlopen(name)
		if err != nil {
			tried = append(tried, err.Error())
			continue
		}
		l, err := bind(h, name)
		if err != nil {
			closeHandle(h)
			return nil, err
		}
		return l, nil
	}
	if len(tried) == 1 {
		return nil, fmt.Errorf("variorum: cannot load libvariorum: %s", tried[0])
	}
	return nil, fmt.Errorf("variorum: cannot load libvariorum from the default search path: %s",
		strings.Join(tried, "; "))
}

// dlopen loads name; the error says which name and what dlerror() said.
func dlopen(name string) (unsafe.Pointer, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var cerr *C.char
	h := C.pm_open(cname, &cerr)
	if h == nil {
		msg := "dlopen failed"
		if cerr != nil {
			msg = C.GoString(cerr)
			C.free(unsafe.Pointer(cerr))
		}
		return nil, fmt.Errorf("dlopen %q: %s", name, msg)
	}
	return h, nil
}

func sym(h unsafe.Pointer, name string) unsafe.Pointer {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return C.pm_sym(h, cname)
}

// bind finds the entry point in a loaded library.
func bind(h unsafe.Pointer, name string) (*Lib, error) {
	l := &Lib{handle: h, path: name}
	if w := C.pm_where(h); w != nil {
		l.path = C.GoString(w)
	}
	if fn := sym(h, SymbolPowerJSON); fn != nil {
		l.fn, l.symbol = fn, SymbolPowerJSON
		return l, nil
	}
	fn := sym(h, SymbolNodePowerJSON)
	if fn == nil {
		return nil, fmt.Errorf("variorum: %s has neither %s nor %s: not a usable libvariorum",
			l.path, SymbolPowerJSON, SymbolNodePowerJSON)
	}
	if sym(h, symbolVersion) == nil {
		return nil, fmt.Errorf("variorum: %s has %s but no %s, so it is older than Variorum v0.6.0, "+
			"whose %s takes a jansson json_t* instead of a char**: use Variorum v0.6.0 or later",
			l.path, SymbolNodePowerJSON, symbolVersion, SymbolNodePowerJSON)
	}
	l.fn, l.symbol = fn, SymbolNodePowerJSON
	return l, nil
}

func closeHandle(h unsafe.Pointer) error {
	var cerr *C.char
	if C.pm_close(h, &cerr) != 0 {
		msg := "dlclose failed"
		if cerr != nil {
			msg = C.GoString(cerr)
			C.free(unsafe.Pointer(cerr))
		}
		return errors.New(msg)
	}
	return nil
}

// whereVariorumSaysWhy ends the error of a failed call: Variorum prints its
// reason on the standard error of the process that called it, which for the
// module (in a broker thread or in flux module-exec) is the broker's.
// It has no ";", which joins the errors of several sources.
const whereVariorumSaysWhy = "Variorum printed its reason on standard error, " +
	"the broker's for the module: the journal for a system instance, journalctl -u flux. " +
	"To see it, run: flux start -s1 flux module load power-monitor --source=variorum"

// Path returns the file the library was loaded from (as the dynamic linker
// resolved it where it can tell, else the name given to dlopen).
func (l *Lib) Path() string { return l.path }

// Symbol returns the entry point in use: SymbolPowerJSON or
// SymbolNodePowerJSON.
func (l *Lib) Symbol() string { return l.symbol }

// PowerJSON calls the entry point and returns a copy of the JSON it wrote;
// the C string is freed with free(), as Variorum's examples do (it comes from
// jansson's json_dumps). A non-zero return is an error carrying the code;
// a string written along with it is freed and dropped.
func (l *Lib) PowerJSON() ([]byte, error) {
	js, err := l.AppendPowerJSON(nil)
	if err != nil {
		return nil, err
	}
	return js, nil
}

// AppendPowerJSON is PowerJSON appending the JSON to buf: with a buf that
// is reused (buf[:0]), a call allocates nothing once buf is large enough.
// On error it returns buf unchanged.
func (l *Lib) AppendPowerJSON(buf []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.handle == nil {
		return buf, fmt.Errorf("variorum: %s: library closed", l.path)
	}
	res := C.pm_call(l.fn)
	if res.out != nil {
		if res.rc == 0 {
			buf = append(buf, unsafe.Slice((*byte)(unsafe.Pointer(res.out)), int(res.len))...)
		}
		C.free(unsafe.Pointer(res.out))
	}
	return buf, l.ResultError(int(res.rc), res.out != nil)
}

// ResultError is the error of a call of the entry point that returned rc
// and wrote a string (gotString) or not; nil when it worked.
func (l *Lib) ResultError(rc int, gotString bool) error {
	if rc != 0 {
		return fmt.Errorf("variorum: %s returned %d (%s)", l.symbol, rc, whereVariorumSaysWhy)
	}
	if !gotString {
		return fmt.Errorf("variorum: %s returned 0 but no JSON string", l.symbol)
	}
	return nil
}

// Entry returns the entry point, int fn(char **out), for a caller that
// calls it from C itself (the sampler's clock thread) and frees the string
// with free(); nil once closed. Such a caller must stop calling it before
// Close, and must not call it while the Lib's own methods run.
func (l *Lib) Entry() unsafe.Pointer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fn
}

// Close unloads the library (dlclose). Later calls of PowerJSON fail; Close
// again does nothing.
func (l *Lib) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.handle == nil {
		return nil
	}
	h := l.handle
	l.handle, l.fn = nil, nil
	if err := closeHandle(h); err != nil {
		return fmt.Errorf("variorum: dlclose %s: %w", l.path, err)
	}
	return nil
}
