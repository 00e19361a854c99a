-- append: keys above every existing one, ascending (one sequence shared by the clients), as ids
-- and event times arrive; @APPEND_FROM@ is the data's largest key, @APPEND_STEP@ one unit (a
-- millisecond for timestamptz keys).
INSERT INTO @TABLE@ (k, payload) SELECT @APPEND_FROM@ + nextval('bench_append') * @APPEND_STEP@, 0;
