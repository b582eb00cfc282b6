// _prestage_pybind11: lets fresh copies of a pybind11 extension register the same C++ types again,
// with the objects of every copy ("generation") usable by the code of every other.
//
// pybind11 keeps one registry per internals version (a capsule in builtins): C++ type -> type_info
// (registered_types_cpp) and Python type -> type_info(s) (registered_types_py). Built against the
// SAME pybind11 headers as the project, so that it shares those internals, the helper works in two
// steps around each load of a fresh copy:
//
// release_module_types(old_module), before the load: the old module's types (submodules included)
// leave registered_types_cpp, so the fresh copy can register its own. Until the load settles they
// are "released": old instances load through a foreign-module loader (the PYBIND11_MODULE_LOCAL_ID
// capsule that pybind11's casters consult last) and old constructors still build old instances.
//
// settle_module_types(name, new_module or None), after the load:
//   - a released type whose new counterpart has the same C++ layout (size, alignment, holder, C++
//     bases) is merged into it: its Python type, and every Python subclass of it, maps to the new
//     type_info in registered_types_py, and gets the new Python type in its MRO. pybind11's own
//     casters then accept old objects everywhere with their real holder (shared_ptr, custom) and
//     base-class casts; PYBIND11_OVERRIDE finds Python overrides of old objects; isinstance(old,
//     New) holds.
//   - one whose layout changed stays on its own type_info: new code given an old object, and any
//     holder argument, raise TypeError instead of reading the wrong layout.
//   - one with no counterpart (class removed) goes back into the registry unchanged.
//   - a failed load (None) is rolled back: what it registered leaves, the old types come back.
// Exceptions: every generation's register_exception translators stay; a router placed first
// sends a C++ exception thrown with an old copy's type (its std::type_info lives in that copy's
// image) to that copy's translators, so old code raises the old Python class; the old exception
// class also gets the new one in its MRO, so `except New` catches it too.
// pybind11 >= 3.0.1 caches modules by spec name per interpreter; the release drops those entries.
// Types with internal linkage (anonymous namespaces) never collide, since libstdc++ compares their
// type_info by address; they are left alone.
#include <cxxabi.h>
#include <dlfcn.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <exception>
#include <map>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace py = pybind11;
namespace pyd = pybind11::detail;

namespace {

using init_instance_fn = void (*)(pyd::instance*, const void*);
using translator_fn = void (*)(std::exception_ptr);

#if defined(__GLIBCXX__)
// libstdc++ marks internal-linkage type names with a leading '*' (compared by address).
struct raw_type_info : std::type_info {
  const char* raw_name() const { return __name; }
};
bool has_internal_linkage(const std::type_info& type) {
  return static_cast<const raw_type_info&>(type).raw_name()[0] == '*';
}
#else
bool has_internal_linkage(const std::type_info&) { return false; }
#endif

// The shared object (its load address) that holds `address`: tells generations' code apart.
const void* image_of(const void* address) {
  Dl_info info;
  if (address == nullptr || dladdr(address, &info) == 0) return nullptr;
  return info.dli_fbase;
}

std::string type_name(PyTypeObject* type) {
  auto* object = reinterpret_cast<PyObject*>(type);
  return py::str(py::getattr(object, "__module__", py::str("?"))).cast<std::string>() + "." +
         py::str(py::getattr(object, "__qualname__", py::str(type->tp_name))).cast<std::string>();
}

// ---- the C++-type registry -------------------------------------------------------------------

pyd::type_info* registered(const std::type_index& key) {
  auto& types = pyd::get_internals().registered_types_cpp;
  auto found = types.find(key);
  return found == types.end() ? nullptr : found->second;
}

void unregister(const std::type_index& key) {
  auto& internals = pyd::get_internals();
#if PYBIND11_INTERNALS_VERSION >= 12
  for (auto it = internals.registered_types_cpp_fast.begin(); it != internals.registered_types_cpp_fast.end();) {
    it = std::type_index(*it->first) == key ? internals.registered_types_cpp_fast.erase(it) : std::next(it);
  }
#endif
  internals.registered_types_cpp.erase(key);
}

// pybind11 erases internals.direct_conversions[C++ type] when any Python type of that C++ type is
// deallocated, which would leave the other generations' type_info pointing at freed memory. Every
// type_info the helper handles points at a vector of its own instead (copied once, never freed).
void own_direct_conversions(pyd::type_info* info) {
  static auto* stable = new std::unordered_map<std::type_index, std::vector<bool (*)(PyObject*, void*&)>>();
  const std::type_index key(*info->cpptype);
  auto inserted = stable->try_emplace(key);
  if (inserted.second && info->direct_conversions != nullptr) inserted.first->second = *info->direct_conversions;
  info->direct_conversions = &inserted.first->second;
}

// ---- released types ---------------------------------------------------------------------------

struct Released {
  pyd::type_info* info;
  init_instance_fn init_instance;  // the type's own, replaced by init_released_instance
  std::string module;              // the module (or submodule) that defined it
  std::string why;                 // why it kept its own type_info after a load, if it did
};

// PyTypeObject -> its released entry, for types released and not merged (yet).
std::unordered_map<PyTypeObject*, Released>& released_types() {
  static auto* types = new std::unordered_map<PyTypeObject*, Released>();  // never destroyed: exit runs after Py_Finalize
  return *types;
}

// Python type -> the images whose code was built for its type_info's layout: its own, and those of
// the older types merged into it.
std::unordered_map<PyTypeObject*, std::unordered_set<const void*>>& reader_images() {
  static auto* readers = new std::unordered_map<PyTypeObject*, std::unordered_set<const void*>>();  // never destroyed: exit runs after Py_Finalize
  return *readers;
}

bool may_read(const void* image, const pyd::type_info* info) {
  if (image == image_of(reinterpret_cast<const void*>(info->dealloc))) return true;
  auto found = reader_images().find(info->type);
  return found != reader_images().end() && found->second.count(image) != 0;
}

const Released* released_entry(const pyd::type_info* info) {
  auto found = released_types().find(info->type);
  return found == released_types().end() || found->second.info != info ? nullptr : &found->second;
}

// Old constructors look their type up by C++ type, which finds the new copy's type; this points
// the registry back at the released type for the duration of the call.
void init_released_instance(pyd::instance* instance, const void* holder) {
  for (auto* info : pyd::all_type_info(Py_TYPE(instance))) {
    const Released* entry = released_entry(info);
    if (entry == nullptr) continue;
    auto value_and_holder = instance->get_value_and_holder(info, false);
    if (!value_and_holder || value_and_holder.instance_registered()) continue;
    auto& types = pyd::get_internals().registered_types_cpp;
    const std::type_index key(*info->cpptype);
    pyd::type_info* previous = registered(key);
    types[key] = info;
    auto restore = [&] {
      if (previous) types[key] = previous; else types.erase(key);
    };
    try {
      entry->init_instance(instance, holder);
    } catch (...) {
      restore();
      throw;
    }
    restore();
    return;
  }
}

// pybind11's casters of every module call this (through the capsule) for an instance of a released
// type they did not load natively. Only value/reference casters are safe here (a holder caster
// would get an empty holder), and only the type's own code may read a layout that changed.
void* load_released_instance(PyObject* source, const pyd::type_info* info) {
  const void* caller = image_of(__builtin_return_address(0));
  const Released* entry = released_entry(info);
  if (entry != nullptr && !entry->why.empty() && !may_read(caller, info)) {
    throw py::type_error(type_name(info->type) + " object is from before a reload that " + entry->why +
                         "; only the code it was created with can use it");
  }
  if (!info->default_holder) {
    const std::string state = entry != nullptr && !entry->why.empty() ? "that " + entry->why : "still in progress";
    throw py::type_error(type_name(info->type) + " object is from before a reload " + state +
                         "; its std::shared_ptr or custom holder cannot be passed to other code");
  }
  pyd::type_caster_generic caster(info);
  return caster.load(source, false) ? caster.value : nullptr;
}

void set_foreign_loader(pyd::type_info* info, bool on) {
  auto* type = reinterpret_cast<PyObject*>(info->type);
  if (on) {
    info->module_local_load = &load_released_instance;
    py::setattr(type, PYBIND11_MODULE_LOCAL_ID, py::capsule(info));
  } else if (PyDict_GetItemString(info->type->tp_dict, PYBIND11_MODULE_LOCAL_ID) != nullptr) {
    py::delattr(type, PYBIND11_MODULE_LOCAL_ID);
    info->module_local_load = nullptr;
  }
}

void forget_when_dead(PyTypeObject* type);

// Takes the type out of registered_types_cpp. module_local: pybind11's deallocation of the old
// Python type then erases from a module-local map, not the entry that belongs to the new copy.
bool release_type(pyd::type_info* info, const std::string& module) {
  const std::type_index key(*info->cpptype);
  if (registered(key) != info) return false;
  unregister(key);
  own_direct_conversions(info);
  info->module_local = true;
  released_types()[info->type] = Released{info, info->init_instance, module, {}};
  info->init_instance = &init_released_instance;
  set_foreign_loader(info, true);
  forget_when_dead(info->type);
  return true;
}

// Types restored under a module name: its next release releases them again, even when the module
// object no longer names them (a class removed, then added back).
std::map<std::string, std::vector<py::object>>& restored_types() {
  static auto* restored = new std::map<std::string, std::vector<py::object>>();  // never destroyed: exit runs after Py_Finalize
  return *restored;
}

// Puts a released type back as the registered one (its class is gone from the new copy, or the
// load failed).
void restore_type(const Released& entry) {
  pyd::type_info* info = entry.info;
  info->module_local = false;
  info->init_instance = entry.init_instance;
  set_foreign_loader(info, false);
  pyd::get_internals().registered_types_cpp[std::type_index(*info->cpptype)] = info;
  restored_types()[entry.module].push_back(py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(info->type)));
}

// ---- merging an old type into its new counterpart ---------------------------------------------

// C++ bases as pybind11 sees them (names of registered bases, other Python bases by identity).
std::vector<std::string> base_names(PyTypeObject* type) {
  std::vector<std::string> names;
  auto& types_py = pyd::get_internals().registered_types_py;
  for (py::handle base : py::reinterpret_borrow<py::tuple>(type->tp_bases)) {
    auto found = types_py.find(reinterpret_cast<PyTypeObject*>(base.ptr()));
    if (found != types_py.end() && found->second.size() == 1) {
      names.emplace_back(found->second[0]->cpptype->name());
    } else {
      names.push_back("py:" + std::to_string(reinterpret_cast<std::uintptr_t>(base.ptr())));
    }
  }
  return names;
}

// Empty when objects of `old_info` can be read by code built for `new_info`; else the difference.
std::string layout_change(const pyd::type_info* old_info, const pyd::type_info* new_info) {
  if (old_info->type_size != new_info->type_size) {
    return "changed its size (" + std::to_string(old_info->type_size) + " -> " + std::to_string(new_info->type_size) + " bytes)";
  }
  if (old_info->type_align != new_info->type_align) return "changed its alignment";
  if (old_info->holder_size_in_ptrs != new_info->holder_size_in_ptrs || old_info->default_holder != new_info->default_holder) {
    return "changed its holder type";
  }
  if (old_info->simple_ancestors != new_info->simple_ancestors || base_names(old_info->type) != base_names(new_info->type)) {
    return "changed its base classes";
  }
  return {};
}

// newer Python type -> weak references to the older types merged into it (their MROs name it).
std::unordered_map<PyTypeObject*, std::vector<py::object>>& merged_into() {
  static auto* merged = new std::unordered_map<PyTypeObject*, std::vector<py::object>>();  // never destroyed: exit runs after Py_Finalize
  return *merged;
}

// `type`, its subclasses and the older types merged into any of them: all that have it in the MRO.
void types_below(PyTypeObject* type, std::vector<PyTypeObject*>& found) {
  if (std::find(found.begin(), found.end(), type) != found.end()) return;
  found.push_back(type);
  py::list children = py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(type)).attr("__subclasses__")();
  for (py::handle child : children) types_below(reinterpret_cast<PyTypeObject*>(child.ptr()), found);
  auto older = merged_into().find(type);
  if (older == merged_into().end()) return;
  for (const py::object& reference : older->second) {
    py::object alive = reference();
    if (!alive.is_none()) types_below(reinterpret_cast<PyTypeObject*>(alive.ptr()), found);
  }
}

// Adds `newer` to the MRO of `older` and of all types below it, just before the first class they
// share with `newer`'s own MRO (pybind11_object, object, Exception...), so that old classes and
// their overrides still come first.
void add_to_mro(PyTypeObject* older, PyTypeObject* newer) {
  std::vector<PyTypeObject*> types;
  types_below(older, types);
  merged_into()[newer].push_back(py::weakref(reinterpret_cast<PyObject*>(older)));
  auto newer_mro = py::reinterpret_borrow<py::tuple>(newer->tp_mro);
  auto in_newer = [&](py::handle entry) {
    for (py::handle item : newer_mro) {
      if (item.ptr() == entry.ptr()) return true;
    }
    return false;
  };
  for (PyTypeObject* type : types) {
    auto mro = py::reinterpret_borrow<py::tuple>(type->tp_mro);
    py::list entries;
    bool inserted = false;
    for (py::handle entry : mro) {
      if (entry.ptr() == reinterpret_cast<PyObject*>(newer)) inserted = true;
    }
    for (py::handle entry : mro) {
      if (!inserted && in_newer(entry)) {
        entries.append(py::handle(reinterpret_cast<PyObject*>(newer)));
        inserted = true;
      }
      entries.append(entry);
    }
    if (!inserted) continue;
    PyObject* old_mro = type->tp_mro;
    type->tp_mro = py::tuple(entries).release().ptr();
    Py_XDECREF(old_mro);
    PyType_Modified(type);
  }
}

// When an old Python type that maps to another type_info dies, pybind11 does not clean its
// registered_types_py entry (it only does for a type's own type_info, in its metaclass's dealloc,
// which a collected cycle runs after this callback); this does, and drops the helper's records.
void forget_when_dead(PyTypeObject* type) {
  py::weakref(reinterpret_cast<PyObject*>(type), py::cpp_function([type](py::handle reference) {
                auto& internals = pyd::get_internals();
                auto entry = internals.registered_types_py.find(type);
                if (entry != internals.registered_types_py.end() && !(entry->second.size() == 1 && entry->second[0]->type == type)) {
                  internals.registered_types_py.erase(entry);
                  auto& cache = internals.inactive_override_cache;
                  for (auto it = cache.begin(); it != cache.end();) {
                    it = it->first == reinterpret_cast<PyObject*>(type) ? cache.erase(it) : std::next(it);
                  }
                }
                released_types().erase(type);
                reader_images().erase(type);
                reference.dec_ref();
              }))
      .release();
}

// Old objects become objects of `new_info` as far as pybind11 is concerned (they keep their old
// Python class, whose methods are the old code).
void merge_type(const Released& entry, pyd::type_info* new_info) {
  pyd::type_info* old_info = entry.info;
  PyTypeObject* old_type = old_info->type;
  old_info->init_instance = entry.init_instance;
  set_foreign_loader(old_info, false);
  for (auto& mapping : pyd::get_internals().registered_types_py) {
    auto& infos = mapping.second;
    for (auto*& info : infos) {
      if (info == old_info) info = new_info;
    }
    std::vector<pyd::type_info*> unique;
    for (auto* info : infos) {
      if (std::find(unique.begin(), unique.end(), info) == unique.end()) unique.push_back(info);
    }
    infos.swap(unique);
  }
  own_direct_conversions(new_info);
  auto& readers = reader_images()[new_info->type];
  readers.insert(image_of(reinterpret_cast<const void*>(old_info->dealloc)));
  auto older_readers = reader_images().find(old_type);
  if (older_readers != reader_images().end()) readers.insert(older_readers->second.begin(), older_readers->second.end());
  forget_when_dead(new_info->type);
  add_to_mro(old_type, new_info->type);
  // old_info is no longer reachable from pybind11; it is left allocated.
}

// ---- exceptions -------------------------------------------------------------------------------

// Image of a released copy -> its global translators, in pybind11's order.
std::map<const void*, std::vector<translator_fn>>& translators_by_image() {
  static auto* table = new std::map<const void*, std::vector<translator_fn>>();  // never destroyed: exit runs after Py_Finalize
  return *table;
}

void route_released_exception(std::exception_ptr thrown) {
  if (!thrown) return;
  const void* image = nullptr;
  try {
    std::rethrow_exception(thrown);
  } catch (...) {
    image = image_of(abi::__cxa_current_exception_type());
  }
  auto found = translators_by_image().find(image);
  if (found == translators_by_image().end()) std::rethrow_exception(thrown);
  for (translator_fn translator : found->second) {
    try {
      translator(thrown);
      return;
    } catch (...) {
      thrown = std::current_exception();
    }
  }
  std::rethrow_exception(thrown);
}

// Records the global translators that `images` registered (all but pybind11's default, the last).
void record_translators(const std::unordered_set<const void*>& images) {
  auto& translators = pyd::get_internals().registered_exception_translators;
  std::vector<translator_fn> all(translators.begin(), translators.end());
  if (!all.empty()) all.pop_back();
  for (const void* image : images) {
    std::vector<translator_fn> own;
    for (translator_fn translator : all) {
      if (translator != &route_released_exception && image_of(reinterpret_cast<const void*>(translator)) == image) {
        own.push_back(translator);
      }
    }
    if (!own.empty()) translators_by_image()[image] = own;
  }
}

void put_router_first() {
  if (translators_by_image().empty()) return;
  auto& translators = pyd::get_internals().registered_exception_translators;
  translators.remove(&route_released_exception);
  translators.push_front(&route_released_exception);
}

// ---- walking a module -------------------------------------------------------------------------

pyd::type_info* own_type_info(PyTypeObject* type) {
  auto& types_py = pyd::get_internals().registered_types_py;
  auto found = types_py.find(type);
  if (found == types_py.end()) return nullptr;
  for (auto* info : found->second) {
    if (info->type == type) return info;
  }
  return nullptr;
}

bool is_pybind11_type(py::handle object) {
  return PyType_Check(object.ptr()) && own_type_info(reinterpret_cast<PyTypeObject*>(object.ptr())) != nullptr;
}

bool defined_in(py::handle object, const std::string& module_name) {
  py::object owner = py::getattr(object, "__module__", py::none());
  return !owner.is_none() && py::str(owner).cast<std::string>() == module_name;
}

// What one module (or submodule) defines.
struct ModuleContents {
  std::string name;
  std::vector<py::handle> types;                                  // pybind11 types, nested ones too
  std::vector<std::pair<std::string, py::object>> exceptions;     // attribute name -> exception class
  std::unordered_set<const void*> images;                         // shared objects its code lives in
};

void collect_nested(py::handle type, ModuleContents& contents, int depth) {
  if (depth > 8) return;
  for (auto item : py::reinterpret_borrow<py::dict>(reinterpret_cast<PyTypeObject*>(type.ptr())->tp_dict)) {
    py::handle value = item.second;
    if (!is_pybind11_type(value)) continue;
    if (std::find_if(contents.types.begin(), contents.types.end(), [&](py::handle known) { return known.is(value); }) !=
        contents.types.end()) {
      continue;
    }
    contents.types.push_back(value);
    collect_nested(value, contents, depth + 1);
  }
}

// The module and its submodules (def_submodule), depth first.
void collect_module(py::handle module, std::vector<ModuleContents>& found, int depth) {
  if (depth > 8 || !PyModule_Check(module.ptr())) return;
  const std::string name = py::str(py::getattr(module, "__name__")).cast<std::string>();
  for (const auto& known : found) {
    if (known.name == name) return;
  }
  found.push_back(ModuleContents{name, {}, {}, {}});
  const size_t index = found.size() - 1;
  std::vector<py::handle> submodules;
  for (auto item : py::reinterpret_borrow<py::dict>(PyModule_GetDict(module.ptr()))) {
    py::handle value = item.second;
    ModuleContents& contents = found[index];
    if (PyModule_Check(value.ptr())) {
      const std::string child = py::str(py::getattr(value, "__name__", py::str(""))).cast<std::string>();
      if (child.rfind(name + ".", 0) == 0) submodules.push_back(value);
    } else if (PyCFunction_Check(value.ptr())) {
      if (defined_in(value, name)) contents.images.insert(image_of(reinterpret_cast<const void*>(PyCFunction_GET_FUNCTION(value.ptr()))));
    } else if (is_pybind11_type(value)) {
      if (!defined_in(value, name)) continue;  // re-exported: belongs to its own module
      contents.types.push_back(value);
      contents.images.insert(image_of(reinterpret_cast<const void*>(own_type_info(reinterpret_cast<PyTypeObject*>(value.ptr()))->dealloc)));
      collect_nested(value, contents, 1);
    } else if (PyType_Check(value.ptr()) && PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(value.ptr()),
                                                             reinterpret_cast<PyTypeObject*>(PyExc_BaseException))) {
      if (defined_in(value, name)) contents.exceptions.emplace_back(py::str(item.first).cast<std::string>(), py::reinterpret_borrow<py::object>(value));
    }
  }
  for (py::handle submodule : submodules) collect_module(submodule, found, depth + 1);
}

void forget_cached_module(const std::string& name) {
#if PYBIND11_VERSION_HEX >= 0x03000100
  // pybind11 >= 3.0.1 returns the module cached under the spec's name instead of creating one.
  py::dict state = py::reinterpret_borrow<py::dict>(pyd::get_python_state_dict());
  if (!state.contains("__pybind11_module_cache")) return;
  py::dict cache = state["__pybind11_module_cache"];
  py::str key(name);
  if (cache.contains(key)) PyDict_DelItem(cache.ptr(), key.ptr());
#else
  (void)name;
#endif
}

// What a release left to settle, per released top-level module name.
struct PendingLoad {
  std::vector<ModuleContents> modules;
  std::vector<PyTypeObject*> types;  // released by this release
};
std::map<std::string, PendingLoad>& pending_loads() {
  static auto* pending = new std::map<std::string, PendingLoad>();  // never destroyed: exit runs after Py_Finalize
  return *pending;
}

// ---- the API ----------------------------------------------------------------------------------

py::list release_module_types(py::module_ old_module) {
  if (!PyModule_Check(old_module.ptr())) throw py::type_error("release_module_types: expected a module");
  PendingLoad load;
  collect_module(old_module, load.modules, 0);
  py::list released;
  std::unordered_set<const void*> images;
  for (const ModuleContents& contents : load.modules) {
    images.insert(contents.images.begin(), contents.images.end());
    forget_cached_module(contents.name);
    for (py::handle type : contents.types) {
      auto* info = own_type_info(reinterpret_cast<PyTypeObject*>(type.ptr()));
      if (info == nullptr || info->module_local || has_internal_linkage(*info->cpptype)) continue;
      if (!release_type(info, contents.name)) continue;
      load.types.push_back(info->type);
      released.append(py::getattr(type, "__qualname__", py::str("?")));
    }
  }
  for (const ModuleContents& contents : load.modules) {
    auto restored = restored_types().find(contents.name);
    if (restored == restored_types().end()) continue;
    for (const py::object& type : restored->second) {
      auto* info = own_type_info(reinterpret_cast<PyTypeObject*>(type.ptr()));
      if (info != nullptr && release_type(info, contents.name)) load.types.push_back(info->type);
    }
    restored_types().erase(restored);
  }
  images.erase(nullptr);
  record_translators(images);
  // Types that an earlier release left on their own type_info (layout changed) stay released.
  auto& pending = pending_loads()[load.modules.front().name];
  pending.types.insert(pending.types.end(), load.types.begin(), load.types.end());
  pending.modules = std::move(load.modules);
  return released;
}

py::handle lookup_path(py::handle module, const std::string& module_name, const std::string& top, const std::string& attribute) {
  if (!module) return py::handle();
  py::object scope = py::reinterpret_borrow<py::object>(module);
  std::string rest = module_name.size() > top.size() ? module_name.substr(top.size() + 1) : std::string();
  while (!rest.empty()) {
    const auto dot = rest.find('.');
    scope = py::getattr(scope, rest.substr(0, dot).c_str(), py::none());
    if (scope.is_none()) return py::handle();
    rest = dot == std::string::npos ? std::string() : rest.substr(dot + 1);
  }
  py::object value = py::getattr(scope, attribute.c_str(), py::none());
  return value.is_none() ? py::handle() : value.release();
}

// Types that a failed load registered before it failed (defined in module `top`, code outside the
// old copy's images) leave the registry again.
void unregister_failed_load(const std::string& top, const std::vector<ModuleContents>& old_modules) {
  std::unordered_set<const void*> old_images;
  for (const ModuleContents& contents : old_modules) old_images.insert(contents.images.begin(), contents.images.end());
  std::vector<std::pair<std::type_index, pyd::type_info*>> failed;
  for (auto& item : pyd::get_internals().registered_types_cpp) {
    pyd::type_info* info = item.second;
    if (released_types().count(info->type) != 0) continue;
    if (old_images.count(image_of(reinterpret_cast<const void*>(info->dealloc))) != 0) continue;
    const std::string owner = py::str(py::getattr(reinterpret_cast<PyObject*>(info->type), "__module__", py::str(""))).cast<std::string>();
    if (owner == top || owner.rfind(top + ".", 0) == 0) failed.emplace_back(item.first, info);
  }
  for (auto& item : failed) {
    unregister(item.first);
    own_direct_conversions(item.second);
    item.second->module_local = true;
  }
}

// Returns {qualified class name: outcome} for what it settled.
py::dict settle_module_types(const std::string& name, py::object new_module) {
  py::dict outcome;
  auto found = pending_loads().find(name);
  if (found == pending_loads().end()) return outcome;
  PendingLoad load = std::move(found->second);
  pending_loads().erase(found);
  const bool loaded = !new_module.is_none();
  if (!loaded) unregister_failed_load(name, load.modules);
  std::vector<PyTypeObject*> still_released;
  for (PyTypeObject* type : load.types) {
    auto entry_it = released_types().find(type);
    if (entry_it == released_types().end()) continue;  // died meanwhile
    Released& entry = entry_it->second;
    const std::string label = type_name(type);
    pyd::type_info* current = registered(std::type_index(*entry.info->cpptype));
    if (current == nullptr) {
      restore_type(entry);
      released_types().erase(entry_it);
      outcome[py::str(label)] = loaded ? "restored (no new class)" : "restored (load failed)";
      continue;
    }
    if (!loaded) {  // another module owns the type now; keep the old one released
      still_released.push_back(type);
      continue;
    }
    std::string change = layout_change(entry.info, current);
    if (change.empty()) {
      merge_type(entry, current);
      released_types().erase(entry_it);
      outcome[py::str(label)] = "merged";
    } else {
      entry.why = change;
      still_released.push_back(type);
      outcome[py::str(label)] = "kept apart: " + change;
    }
  }
  if (loaded) {
    for (const ModuleContents& contents : load.modules) {
      for (const auto& exception : contents.exceptions) {
        py::handle newer = lookup_path(new_module, contents.name, name, exception.first);
        if (newer && PyType_Check(newer.ptr()) && !newer.is(exception.second)) {
          add_to_mro(reinterpret_cast<PyTypeObject*>(exception.second.ptr()), reinterpret_cast<PyTypeObject*>(newer.ptr()));
          outcome[py::str(contents.name + "." + exception.first)] = "merged";
        }
        newer.dec_ref();
      }
    }
  }
  if (!still_released.empty()) {
    auto& pending = pending_loads()[name];
    pending.types.insert(pending.types.end(), still_released.begin(), still_released.end());
    pending.modules = load.modules;
  }
  put_router_first();
  return outcome;
}

py::list pending_module_names() {
  py::list names;
  for (const auto& item : pending_loads()) names.append(item.first);
  return names;
}

}  // namespace

PYBIND11_MODULE(_prestage_pybind11, m) {
  m.doc() = "prestage: lets fresh copies of a pybind11 module register its types again and share objects";
  m.attr("internals_id") = PYBIND11_INTERNALS_ID;
  m.attr("pybind11_version") = std::to_string(PYBIND11_VERSION_MAJOR) + "." + std::to_string(PYBIND11_VERSION_MINOR) + "." +
                               std::to_string(PYBIND11_VERSION_PATCH);
  m.def("release_module_types", &release_module_types, py::arg("old_module"),
        "Before a fresh copy loads: moves the module's pybind11 types out of the C++-type registry; returns their names.");
  m.def("settle_module_types", &settle_module_types, py::arg("name"), py::arg("new_module"),
        "After the fresh copy loaded (or None if it failed): merges, keeps apart or restores the released types.");
  m.def("pending_module_names", &pending_module_names, "Modules released and not settled yet.");
  m.def("is_pybind11_type", [](py::handle object) { return is_pybind11_type(object); });
}
