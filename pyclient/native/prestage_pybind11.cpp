// _prestage_pybind11: lets a fresh copy of a pybind11 extension register the same C++ types again.
//
// pybind11 keeps one registry per internals version (a capsule in builtins), keyed by C++ type
// (std::type_index). A second copy of a module that binds `Integer` finds the old entry and fails
// with `generic_type: type "Integer" is already registered!`. Built against the SAME pybind11
// headers as the project (so it shares those internals), release_module_types(old_module) moves
// the old module's types out of the global C++-type map before the new copy loads:
//   - registered_types_py keeps the old PyTypeObjects, so old instances keep working;
//   - each old type becomes a "foreign module-local" type (module_local_load + the
//     PYBIND11_MODULE_LOCAL_ID capsule), so code that looks types up by C++ type (old methods, new
//     methods given old instances) can still load old instances through
//     try_load_foreign_module_local;
//   - the new copy registers fresh types: new instances and unpickling get the new classes.
// Types with internal linkage (anonymous namespaces) never collide, since libstdc++ compares
// their type_info by address; they stay registered so old code can keep returning them.
#include <pybind11/pybind11.h>

#include <string>
#include <typeinfo>
#include <unordered_map>
#include <vector>

namespace py = pybind11;
namespace pyd = pybind11::detail;

namespace {

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

// Loads an instance of an old type from any module's code; mirrors type_caster_generic::local_load.
void* load_released_instance(PyObject* source, const pyd::type_info* type_info) {
  pyd::type_caster_generic caster(type_info);
  if (caster.load(source, false)) return caster.value;
  return nullptr;
}

// Old copies' init_instance looks its type up by C++ type, which now finds the new copy's type.
// The wrapper points the registry back at the released type for the duration of the call, so
// names bound before the reload (`from pkg import Integer`) still construct old instances.
using init_instance_fn = void (*)(pyd::instance*, const void*);
std::unordered_map<const pyd::type_info*, init_instance_fn>& released_init_functions() {
  static std::unordered_map<const pyd::type_info*, init_instance_fn> functions;
  return functions;
}

void init_released_instance(pyd::instance* instance, const void* holder) {
  auto& functions = released_init_functions();
  for (auto* info : pyd::all_type_info(Py_TYPE(instance))) {
    auto original = functions.find(info);
    if (original == functions.end()) continue;
    auto value_and_holder = instance->get_value_and_holder(info, false);
    if (!value_and_holder || value_and_holder.instance_registered()) continue;
    auto& registry = pyd::get_internals().registered_types_cpp;
    const std::type_index key(*info->cpptype);
    auto current = registry.find(key);
    pyd::type_info* previous = current == registry.end() ? nullptr : current->second;
    registry[key] = info;
    try {
      original->second(instance, holder);
    } catch (...) {
      if (previous) registry[key] = previous; else registry.erase(key);
      throw;
    }
    if (previous) registry[key] = previous; else registry.erase(key);
    return;
  }
}

pyd::type_info* own_type_info(PyTypeObject* type) {
  auto& internals = pyd::get_internals();
  auto found = internals.registered_types_py.find(type);
  if (found == internals.registered_types_py.end()) return nullptr;
  for (auto* info : found->second) {
    if (info->type == type) return info;
  }
  return nullptr;
}

bool is_pybind11_type(py::handle object) {
  if (!PyType_Check(object.ptr())) return false;
  return own_type_info(reinterpret_cast<PyTypeObject*>(object.ptr())) != nullptr;
}

// Releases one type; returns true when it was moved out of the global C++-type map.
bool release_type(py::handle type_object) {
  auto* info = own_type_info(reinterpret_cast<PyTypeObject*>(type_object.ptr()));
  if (info == nullptr || info->module_local) return false;
  if (has_internal_linkage(*info->cpptype)) return false;
  auto& internals = pyd::get_internals();
  const std::type_index key(*info->cpptype);
  auto entry = internals.registered_types_cpp.find(key);
  if (entry == internals.registered_types_cpp.end() || entry->second != info) return false;
  internals.registered_types_cpp.erase(entry);
  internals.direct_conversions.erase(key);
  // module_local: when the old type is finally deallocated pybind11 erases from a local map,
  // not the global entry that by then belongs to the new copy's type.
  info->module_local = true;
  info->module_local_load = &load_released_instance;
  released_init_functions()[info] = info->init_instance;
  info->init_instance = &init_released_instance;
  py::setattr(type_object, PYBIND11_MODULE_LOCAL_ID, py::capsule(info));
  return true;
}

void collect_types(py::handle scope, std::vector<py::handle>& found, int depth) {
  if (depth > 8) return;
  auto* type_dict = reinterpret_cast<PyTypeObject*>(scope.ptr())->tp_dict;
  if (type_dict == nullptr) return;
  py::dict namespace_dict = py::reinterpret_borrow<py::dict>(type_dict);
  for (auto item : namespace_dict) {
    py::handle value = item.second;
    if (!is_pybind11_type(value)) continue;
    bool seen = false;
    for (auto known : found) seen = seen || known.ptr() == value.ptr();
    if (seen) continue;
    found.push_back(value);
    collect_types(value, found, depth + 1);  // nested classes and enums
  }
}

py::list release_module_types(py::module_ old_module) {
  if (!PyModule_Check(old_module.ptr())) throw py::type_error("release_module_types: expected a module");
  std::vector<py::handle> types;
  py::dict module_dict = py::reinterpret_borrow<py::dict>(PyModule_GetDict(old_module.ptr()));
  for (auto item : module_dict) {
    py::handle value = item.second;
    if (!is_pybind11_type(value)) continue;
    // Only types this module defined; re-exported types belong to their own module.
    py::object owner = py::getattr(value, "__module__", py::none());
    py::object module_name = py::getattr(old_module, "__name__", py::none());
    if (!owner.is_none() && !module_name.is_none() && !owner.equal(module_name)) continue;
    types.push_back(value);
    collect_types(value, types, 1);
  }
  py::list released;
  for (auto type : types) {
    if (release_type(type)) released.append(py::getattr(type, "__qualname__", py::str("?")));
  }
  return released;
}

}  // namespace

PYBIND11_MODULE(_prestage_pybind11, m) {
  m.doc() = "prestage: releases a pybind11 module's types so a fresh copy can register them again";
  m.attr("internals_id") = PYBIND11_INTERNALS_ID;
  m.attr("pybind11_version") = std::to_string(PYBIND11_VERSION_MAJOR) + "." +
                               std::to_string(PYBIND11_VERSION_MINOR) + "." +
                               std::to_string(PYBIND11_VERSION_PATCH);
  m.def("release_module_types", &release_module_types, py::arg("old_module"),
        "Moves the module's pybind11 types out of the C++-type registry; returns their names.");
  m.def("is_pybind11_type", [](py::handle object) { return is_pybind11_type(object); });
}
