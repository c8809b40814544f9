// The optional native part of ringpop: loops over whole pages that would otherwise
// take a Python-level step per record.
//
// * Batch FarmHash Fingerprint32: a binding of the farmhash library (Debian's
//   libfarmhash-dev); no hash code here. Results are native-endian unsigned 32-bit
//   integers, ready for array('I').frombytes.
// * ends_ok, shift_ends: the structural check of a blob page's offsets, and offsets
//   rebased when parts of blobs are joined into one.
// * ties, greatest: the order check and the greatest version of a page's columns.
// * join_strs, join_values: a page's keys and values as blobs with end offsets.
//
// ringpop.hashing and ringpop.state.blobpage use it when it was built and fall back
// to Python otherwise: both give the same answers (tests/test_hashing.py,
// tests/state/test_blobpage.py).
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <farmhash.h>

#include <cstdint>
#include <cstring>

namespace {

// fingerprint32_strs(keys: list[str]) -> bytes
PyObject* fingerprint32_strs(PyObject*, PyObject* keys) {
    if (!PyList_CheckExact(keys)) {
        PyErr_SetString(PyExc_TypeError, "fingerprint32_strs expects a list of str");
        return nullptr;
    }
    Py_ssize_t count = PyList_GET_SIZE(keys);
    PyObject* out = PyBytes_FromStringAndSize(nullptr, count * 4);
    if (out == nullptr) {
        return nullptr;
    }
    char* into = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject* key = PyList_GET_ITEM(keys, i);
        if (!PyUnicode_Check(key)) {
            Py_DECREF(out);
            PyErr_Format(PyExc_TypeError, "key %zd is %.80s, not str", i, Py_TYPE(key)->tp_name);
            return nullptr;
        }
        Py_ssize_t size = 0;
        const char* text = PyUnicode_AsUTF8AndSize(key, &size);  // ASCII: no copy
        if (text == nullptr) {  // lone surrogates: UnicodeEncodeError, as the scalar hash
            Py_DECREF(out);
            return nullptr;
        }
        uint32_t hash = util::Fingerprint32(text, static_cast<size_t>(size));
        std::memcpy(into + 4 * i, &hash, 4);
    }
    return out;
}

// fingerprint32_blob(blob, ends) -> bytes: key i is blob[ends[i - 1]:ends[i]]
// (ends: native unsigned 32-bit integers, ends[-1] taken as 0).
PyObject* fingerprint32_blob(PyObject*, PyObject* args) {
    Py_buffer blob, ends;
    if (!PyArg_ParseTuple(args, "y*y*", &blob, &ends)) {
        return nullptr;
    }
    PyObject* out = nullptr;
    if (ends.len % 4 != 0) {
        PyErr_SetString(PyExc_ValueError, "ends is not a whole number of 32-bit integers");
    } else {
        Py_ssize_t count = ends.len / 4;
        out = PyBytes_FromStringAndSize(nullptr, count * 4);
        if (out != nullptr) {
            const char* data = static_cast<const char*>(blob.buf);
            const char* raw = static_cast<const char*>(ends.buf);
            char* into = PyBytes_AS_STRING(out);
            uint64_t start = 0;
            for (Py_ssize_t i = 0; i < count; i++) {
                uint32_t end;
                std::memcpy(&end, raw + 4 * i, 4);
                if (end < start || end > static_cast<uint64_t>(blob.len)) {
                    Py_CLEAR(out);
                    PyErr_Format(PyExc_ValueError,
                                 "key %zd ends at %u: outside [%llu, %zd]", i, end,
                                 static_cast<unsigned long long>(start), blob.len);
                    break;
                }
                uint32_t hash = util::Fingerprint32(data + start, end - start);
                std::memcpy(into + 4 * i, &hash, 4);
                start = end;
            }
        }
    }
    PyBuffer_Release(&blob);
    PyBuffer_Release(&ends);
    return out;
}

// ends_ok(ends, size) -> bool: ends (native unsigned 32-bit) never decrease and the
// last is size (no ends: size is 0).
PyObject* ends_ok(PyObject*, PyObject* args) {
    Py_buffer ends;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "y*n", &ends, &size)) {
        return nullptr;
    }
    bool ok = ends.len % 4 == 0;
    uint64_t previous = 0;
    const char* raw = static_cast<const char*>(ends.buf);
    for (Py_ssize_t i = 0; ok && i < ends.len / 4; i++) {
        uint32_t end;
        std::memcpy(&end, raw + 4 * i, 4);
        ok = end >= previous;
        previous = end;
    }
    ok = ok && previous == static_cast<uint64_t>(size);
    PyBuffer_Release(&ends);
    return PyBool_FromLong(ok);
}

// shift_ends(ends, delta) -> bytes: each native unsigned 32-bit end plus delta
// (a part's offsets rebased into a joined blob); ValueError if one leaves 0..2**32-1.
PyObject* shift_ends(PyObject*, PyObject* args) {
    Py_buffer ends;
    long long delta;
    if (!PyArg_ParseTuple(args, "y*L", &ends, &delta)) {
        return nullptr;
    }
    Py_ssize_t count = ends.len / 4;
    PyObject* out = PyBytes_FromStringAndSize(nullptr, count * 4);
    if (out != nullptr) {
        const char* raw = static_cast<const char*>(ends.buf);
        char* into = PyBytes_AS_STRING(out);
        for (Py_ssize_t i = 0; i < count; i++) {
            uint32_t end;
            std::memcpy(&end, raw + 4 * i, 4);
            long long moved = static_cast<long long>(end) + delta;
            if (moved < 0 || moved > 0xFFFFFFFFLL) {
                Py_CLEAR(out);
                PyErr_SetString(PyExc_ValueError, "a shifted end offset leaves 0..2**32-1");
                break;
            }
            uint32_t shifted = static_cast<uint32_t>(moved);
            std::memcpy(into + 4 * i, &shifted, 4);
        }
    }
    PyBuffer_Release(&ends);
    return out;
}

// ties(hashes) -> list[int] | None: None if the unsigned 32-bit values ever
// decrease, else the positions i where hashes[i] == hashes[i + 1].
PyObject* ties(PyObject*, PyObject* arg) {
    Py_buffer column;
    if (PyObject_GetBuffer(arg, &column, PyBUF_SIMPLE) != 0) {
        return nullptr;
    }
    Py_ssize_t count = column.len / 4;
    const char* raw = static_cast<const char*>(column.buf);
    PyObject* found = PyList_New(0);
    uint32_t previous = 0;
    for (Py_ssize_t i = 0; found != nullptr && i < count; i++) {
        uint32_t value;
        std::memcpy(&value, raw + 4 * i, 4);
        if (i > 0 && value < previous) {
            Py_CLEAR(found);
            PyBuffer_Release(&column);
            Py_RETURN_NONE;
        }
        if (i > 0 && value == previous) {
            PyObject* at = PyLong_FromSsize_t(i - 1);
            if (at == nullptr || PyList_Append(found, at) != 0) {
                Py_XDECREF(at);
                Py_CLEAR(found);
                break;
            }
            Py_DECREF(at);
        }
        previous = value;
    }
    PyBuffer_Release(&column);
    return found;
}

// greatest(column) -> int: the greatest signed 64-bit value of a non-empty column.
PyObject* greatest(PyObject*, PyObject* arg) {
    Py_buffer column;
    if (PyObject_GetBuffer(arg, &column, PyBUF_SIMPLE) != 0) {
        return nullptr;
    }
    Py_ssize_t count = column.len / 8;
    if (count == 0) {
        PyBuffer_Release(&column);
        PyErr_SetString(PyExc_ValueError, "greatest() of an empty column");
        return nullptr;
    }
    const char* raw = static_cast<const char*>(column.buf);
    int64_t top;
    std::memcpy(&top, raw, 8);
    for (Py_ssize_t i = 1; i < count; i++) {
        int64_t value;
        std::memcpy(&value, raw + 8 * i, 8);
        if (value > top) {
            top = value;
        }
    }
    PyBuffer_Release(&column);
    return PyLong_FromLongLong(top);
}

// The end offsets of pieces of the given sizes, as native unsigned 32-bit integers;
// nullptr (OverflowError) past 4 GiB.
PyObject* ends_bytes(const Py_ssize_t* sizes, Py_ssize_t count) {
    PyObject* ends = PyBytes_FromStringAndSize(nullptr, count * 4);
    if (ends == nullptr) {
        return nullptr;
    }
    char* into = PyBytes_AS_STRING(ends);
    uint64_t end = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        end += static_cast<uint64_t>(sizes[i]);
        if (end > UINT32_MAX) {
            Py_DECREF(ends);
            PyErr_SetString(PyExc_OverflowError, "a page's blob passes 4 GiB");
            return nullptr;
        }
        uint32_t value = static_cast<uint32_t>(end);
        std::memcpy(into + 4 * i, &value, 4);
    }
    return ends;
}

// join_strs(keys: list[str]) -> (bytes, bytes): the keys' UTF-8 one after another,
// and their end offsets.
PyObject* join_strs(PyObject*, PyObject* keys) {
    if (!PyList_CheckExact(keys)) {
        PyErr_SetString(PyExc_TypeError, "join_strs expects a list of str");
        return nullptr;
    }
    Py_ssize_t count = PyList_GET_SIZE(keys);
    Py_ssize_t* sizes = static_cast<Py_ssize_t*>(PyMem_Malloc((count + 1) * sizeof(Py_ssize_t)));
    const char** texts = static_cast<const char**>(PyMem_Malloc((count + 1) * sizeof(char*)));
    PyObject* result = nullptr;
    Py_ssize_t total = 0;
    bool ok = sizes != nullptr && texts != nullptr;
    if (!ok) {
        PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; ok && i < count; i++) {
        PyObject* key = PyList_GET_ITEM(keys, i);
        if (!PyUnicode_Check(key)) {
            PyErr_Format(PyExc_TypeError, "key %zd is %.80s, not str", i, Py_TYPE(key)->tp_name);
            ok = false;
            break;
        }
        texts[i] = PyUnicode_AsUTF8AndSize(key, &sizes[i]);
        ok = texts[i] != nullptr;
        total += ok ? sizes[i] : 0;
    }
    if (ok) {
        PyObject* blob = PyBytes_FromStringAndSize(nullptr, total);
        PyObject* ends = blob != nullptr ? ends_bytes(sizes, count) : nullptr;
        if (ends != nullptr) {
            char* into = PyBytes_AS_STRING(blob);
            for (Py_ssize_t i = 0; i < count; i++) {
                std::memcpy(into, texts[i], static_cast<size_t>(sizes[i]));
                into += sizes[i];
            }
            result = PyTuple_Pack(2, blob, ends);
        }
        Py_XDECREF(blob);
        Py_XDECREF(ends);
    }
    PyMem_Free(sizes);
    PyMem_Free(texts);
    return result;
}

// join_values(values: list[bytes | None]) -> (bytes, bytes, bytes): the values one
// after another, their end offsets, and b"" if none is None, else one byte per value
// (1: None, taken as empty).
PyObject* join_values(PyObject*, PyObject* values) {
    if (!PyList_CheckExact(values)) {
        PyErr_SetString(PyExc_TypeError, "join_values expects a list of bytes or None");
        return nullptr;
    }
    Py_ssize_t count = PyList_GET_SIZE(values);
    Py_ssize_t* sizes = static_cast<Py_ssize_t*>(PyMem_Malloc((count + 1) * sizeof(Py_ssize_t)));
    if (sizes == nullptr) {
        return PyErr_NoMemory();
    }
    Py_ssize_t total = 0;
    bool markers = false;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject* value = PyList_GET_ITEM(values, i);
        if (value == Py_None) {
            sizes[i] = 0;
            markers = true;
        } else if (PyBytes_CheckExact(value)) {
            sizes[i] = PyBytes_GET_SIZE(value);
        } else {
            PyMem_Free(sizes);
            PyErr_Format(PyExc_TypeError, "value %zd is %.80s, not bytes or None", i,
                         Py_TYPE(value)->tp_name);
            return nullptr;
        }
        total += sizes[i];
    }
    PyObject* blob = PyBytes_FromStringAndSize(nullptr, total);
    PyObject* ends = blob != nullptr ? ends_bytes(sizes, count) : nullptr;
    PyObject* flags = ends != nullptr ? PyBytes_FromStringAndSize(nullptr, markers ? count : 0)
                                      : nullptr;
    PyObject* result = nullptr;
    if (flags != nullptr) {
        char* into = PyBytes_AS_STRING(blob);
        char* flag = PyBytes_AS_STRING(flags);
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject* value = PyList_GET_ITEM(values, i);
            if (markers) {
                flag[i] = value == Py_None ? 1 : 0;
            }
            if (value != Py_None) {
                std::memcpy(into, PyBytes_AS_STRING(value), static_cast<size_t>(sizes[i]));
                into += sizes[i];
            }
        }
        result = PyTuple_Pack(3, blob, ends, flags);
    }
    Py_XDECREF(blob);
    Py_XDECREF(ends);
    Py_XDECREF(flags);
    PyMem_Free(sizes);
    return result;
}

PyMethodDef methods[] = {
    {"ties", ties, METH_O,
     "None if unsigned 32-bit values decrease, else the positions of equal neighbours."},
    {"greatest", greatest, METH_O, "The greatest value of a non-empty signed 64-bit column."},
    {"join_strs", join_strs, METH_O, "A list of str as one UTF-8 blob and its end offsets."},
    {"join_values", join_values, METH_O,
     "A list of bytes or None as one blob, its end offsets and marker flags."},
    {"shift_ends", shift_ends, METH_VARARGS,
     "Unsigned 32-bit end offsets plus a delta (ValueError outside 0..2**32-1)."},
    {"ends_ok", ends_ok, METH_VARARGS,
     "Whether end offsets never decrease and the last equals the blob's size."},
    {"fingerprint32_strs", fingerprint32_strs, METH_O,
     "Fingerprint32 of each str of a list (UTF-8), as native unsigned 32-bit integers."},
    {"fingerprint32_blob", fingerprint32_blob, METH_VARARGS,
     "Fingerprint32 of each key of a blob cut at the given end offsets."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ringpop._native",
    "Batch FarmHash Fingerprint32 (a binding of libfarmhash) and blob page checks.", -1, methods,
};

}  // namespace

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
