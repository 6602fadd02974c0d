# C types for connection.py, compiled as this module (_connection_c) by setup.py.
# Cython finds a .pxd by the compiled module's name, hence this file's; the
# logic lives in connection.py alone.
# Compiled with annotation_typing=False (setup.py): the types are these, the
# annotations are for mypy.

cimport cython

cdef int _PENDING, _DONE, _FAILED, _CANCELLED
cdef object _current_task, _copy_context

cdef class ReplyFuture:
    cdef object _loop
    cdef public Py_ssize_t remaining
    cdef public list replies
    cdef public object deadline
    cdef public Py_ssize_t reads_when_queued
    cdef int _state
    cdef object _error
    cdef object _callback
    cdef object _context
    cdef list _more_callbacks
    cdef object _cancel_message
    cdef public bint _asyncio_future_blocking

    cpdef object result(self)
    cpdef bint done(self)
    cdef _schedule_callbacks(self)
    cdef _wake(self)

cdef _run_callback(object loop, object fn, object context, ReplyFuture future)
@cython.locals(count=Py_ssize_t, index=Py_ssize_t, future=ReplyFuture)
cdef _wake_all(object loop, list finished)

@cython.locals(future=ReplyFuture)
cpdef resolve_replies(object loop, list batch)

cdef class MultiplexedConnection:
    cdef public object node
    cdef object _breaker
    cdef bint _resp3
    cdef object _loop
    cdef object _transport
    cdef object _reader
    cdef object _pending
    cdef Py_ssize_t _pending_replies
    cdef list _outgoing
    cdef bint _flush_scheduled
    cdef Py_ssize_t _reads
    cdef object _room_waiters
    cdef object _lost
    cdef object _watchdog
    cdef public object closed

    @cython.locals(head=ReplyFuture, size=Py_ssize_t, start=Py_ssize_t, finished=list)
    cpdef data_received(self, object data)
    @cython.locals(future=ReplyFuture)
    cpdef ReplyFuture submit(self, bytes payload, Py_ssize_t reply_count, object timeout)
