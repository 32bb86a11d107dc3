"""Rules about rewrites: statements that rewrite a whole table, or every row of it, while
holding a lock."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from ..context import Context
from ..rule import ERROR, WARNING, Hit, Rule, example
from ..statements import Step
from ..tree import name, option, table_key, walk

_SERIALS = ("serial", "serial4", "bigserial", "serial8", "smallserial", "serial2")

# Functions whose result does not change within a statement (immutable or stable): a
# default calling only these is evaluated once, so ADD COLUMN needs no rewrite.
_NON_VOLATILE = frozenset(
    """
    now transaction_timestamp statement_timestamp current_timestamp localtimestamp current_date
    current_time localtime current_setting current_user current_schema current_database lower
    upper btrim ltrim rtrim trim concat concat_ws length char_length octet_length substr
    substring replace left right lpad rpad md5 sha256 encode decode to_char to_date to_timestamp
    to_number date_trunc date_part extract make_date make_time make_timestamp make_timestamptz
    make_interval age abs round ceil floor trunc greatest least coalesce nullif
    jsonb_build_object json_build_object jsonb_build_array json_build_array to_jsonb to_json
    array_fill array_length cardinality int4 int8 text numeric timezone
    """.split()  # noqa: SIM905  (words read better than one quoted name a line)
)

# Functions known to be volatile: a default calling one is evaluated for every row.
_VOLATILE = frozenset(
    """
    random random_normal gen_random_uuid uuidv4 uuidv7 uuid_generate_v1 uuid_generate_v1mc
    uuid_generate_v4 clock_timestamp timeofday nextval setval txid_current pg_current_xact_id
    gen_random_bytes
    """.split()  # noqa: SIM905  (words read better than one quoted name a line)
)


def _rewriting_column(col: ast.ColumnDef) -> str | None:
    """Why adding ``col`` to an existing table rewrites it, or None."""
    type_name = ""
    if col.typeName is not None and col.typeName.names:
        type_name = col.typeName.names[-1].sval.lower()
    if type_name in _SERIALS:
        return f"of type {type_name} (its nextval() default is volatile)"
    for c in col.constraints or ():
        if c.contype == ConstrType.CONSTR_IDENTITY:
            return "GENERATED AS IDENTITY"
        if c.contype == ConstrType.CONSTR_GENERATED and c.generated_kind == "s":
            return "GENERATED ALWAYS AS (…) STORED"
        if c.contype == ConstrType.CONSTR_DEFAULT and c.raw_expr is not None:
            why = _volatile(c.raw_expr)
            if why:
                return why
    return None


def _volatile(expr: ast.Node) -> str | None:
    """Why a DEFAULT expression is evaluated for each row, or None."""
    for sub in walk(expr):
        if isinstance(sub, ast.FuncCall):
            fname = sub.funcname[-1].sval.lower()
            if fname in _VOLATILE:
                return f"DEFAULT {fname}() (volatile)"
            if fname not in _NON_VOLATILE:
                return f"DEFAULT {fname}() (not known to be stable, so taken as volatile)"
        if isinstance(sub, ast.SubLink):
            return "DEFAULT with a subquery"
    return None


def _volatile_default(step: Step, ctx: Context) -> Iterator[Hit]:
    col = step.added_column()
    if col is not None and not ctx.is_new(step.table):
        why = _rewriting_column(col)
        if why:
            yield Hit(f"ADD COLUMN {name(step.table)}.{col.colname} {why} rewrites the table")


def _column_type_change(step: Step, ctx: Context) -> Iterator[Hit]:
    cmd = step.command(AlterTableType.AT_AlterColumnType)
    if cmd is not None and not ctx.is_new(step.table):
        table = name(step.table)
        yield Hit(f"ALTER COLUMN {table}.{cmd.name} TYPE rewrites {table}")


def _vacuum_full(step: Step, ctx: Context) -> Iterator[Hit]:
    node = step.node
    if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd and option(node.options, "full"):
        tables = [table_key(r.relation) for r in node.rels or ()]
        if not tables or not all(ctx.is_new(t) for t in tables):
            names = ", ".join(name(t) for t in tables) or "(every table)"
            yield Hit(f"VACUUM FULL {names} locks out reads and writes while it rewrites")


def _cluster(step: Step, ctx: Context) -> Iterator[Hit]:
    node = step.node
    if isinstance(node, ast.ClusterStmt):
        table = table_key(node.relation)
        if not ctx.is_new(table):
            target = name(table) if table else "(every clustered table)"
            yield Hit(f"CLUSTER {target} locks out reads and writes while it rewrites")


def _dml_without_where(step: Step, ctx: Context) -> Iterator[Hit]:
    node = step.node
    if isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)) and node.whereClause is None:
        table = table_key(node.relation)
        if not ctx.is_new(table):
            verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
            yield Hit(f"{verb} without WHERE touches every row of {name(table)}")


RULES = (
    Rule(
        "volatile-default",
        ERROR,
        "ADD COLUMN with a volatile default (gen_random_uuid(), random(), clock_timestamp(), an "
        "unknown function), a serial or identity column or a STORED generated column rewrites "
        "the whole table under an ACCESS EXCLUSIVE lock.",
        "add the column without the default, then SET DEFAULT, and backfill existing rows in "
        "batches in a later migration",
        example(
            "ALTER TABLE customers ADD COLUMN external_id uuid DEFAULT gen_random_uuid();",
            "ALTER TABLE customers DROP COLUMN external_id;",
        ),
        example(
            "ALTER TABLE customers ADD COLUMN external_id uuid;\n"
            "ALTER TABLE customers ALTER COLUMN external_id SET DEFAULT gen_random_uuid();",
            "ALTER TABLE customers DROP COLUMN external_id;",
        ),
        check=_volatile_default,
        squawk=("adding-field-with-default",),
        squawk_note="squawk also reports PostgreSQL 18's virtual generated columns, which do not "
        "rewrite, and does not report serial columns, which do",
    ),
    Rule(
        "column-type-change",
        ERROR,
        "ALTER COLUMN … TYPE rewrites the table and its indexes under an ACCESS EXCLUSIVE lock "
        "(unless the change is binary-coercible, such as varchar(n) to text) and breaks readers "
        "of the old type.",
        "add a new column, backfill it in batches, move the app over, then drop the old column",
        example(
            "ALTER TABLE customers ALTER COLUMN relationship_score TYPE bigint;",
            "ALTER TABLE customers ALTER COLUMN relationship_score TYPE integer;",
        ),
        example(
            "ALTER TABLE customers ADD COLUMN relationship_score_big bigint;",
            "ALTER TABLE customers DROP COLUMN relationship_score_big;",
        ),
        check=_column_type_change,
        squawk=("changing-column-type",),
    ),
    Rule(
        "vacuum-full",
        ERROR,
        "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock for as long as it takes.",
        "run plain VACUUM, or pg_repack / pg_squeeze outside the migration",
        example("VACUUM FULL customers;", "SELECT 1;", "transaction:false"),
        example("VACUUM (ANALYZE) customers;", "SELECT 1;", "transaction:false"),
        check=_vacuum_full,
    ),
    Rule(
        "cluster",
        ERROR,
        "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock for as long as it takes.",
        "mark the index with ALTER TABLE … CLUSTER ON and reorder online with pg_repack outside "
        "the migration",
        example("CLUSTER customers USING customers_pkey;", "SELECT 1;"),
        example(
            "ALTER TABLE customers CLUSTER ON customers_pkey;", "ALTER TABLE customers SET WITHOUT CLUSTER;"
        ),
        check=_cluster,
    ),
    Rule(
        "dml-without-where",
        WARNING,
        "UPDATE or DELETE without WHERE touches every row of an existing table in one "
        "transaction: long row locks, bloat and a long migration.",
        "batch it (UPDATE … WHERE id IN (SELECT id … LIMIT 1000), repeated) as in the guide's "
        "'Data Migration with Batching', or add the WHERE you meant",
        example(
            "UPDATE customers SET pipeline_stage = 'lead';",
            "UPDATE customers SET pipeline_stage = 'new' WHERE pipeline_stage = 'lead';",
        ),
        example(
            "UPDATE customers SET pipeline_stage = 'lead'\n"
            "WHERE id IN (SELECT id FROM customers WHERE pipeline_stage = 'new' LIMIT 1000);",
            "UPDATE customers SET pipeline_stage = 'new' WHERE pipeline_stage = 'lead';",
        ),
        check=_dml_without_where,
    ),
)
