-- The probe table: :nprobes keys drawn with replacement from the rows of :"first" (a copy of src;
-- every copy has the same physical layout, so the stored ctids are valid in every copy), in random
-- order. Row id rn of the copy is its rn-th tuple in physical order.
SELECT setseed(0.99);
CREATE TABLE probes AS
SELECT t.k, t.tid
FROM (SELECT g, 1 + floor(random() * :rows)::int8 AS rn FROM generate_series(1, :nprobes) g) p
JOIN (SELECT row_number() OVER () AS rn, k, ctid AS tid FROM :"first") t USING (rn)
ORDER BY p.g;
VACUUM (ANALYZE) probes;
