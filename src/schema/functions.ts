/**
 * Functions and procedures by pg_dump's TOC tag ("name(argtype, …)", argument types printed
 * by format_type with an empty search_path, as pg_dump prints them), with their full
 * definition. Run with search_path = '' so both sides print names the same way.
 */
export const FUNCTION_DEFS_SQL = `
select n.nspname || '.' || p.proname || '('
         || coalesce((select string_agg(pg_catalog.format_type(t, null), ', ' order by i)
                        from unnest(p.proargtypes::oid[]) with ordinality u (t, i)), '') || ')' as key,
       pg_catalog.pg_get_functiondef(p.oid) as def
  from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
 where p.prokind in ('f', 'p')
   and n.nspname not in ('pg_catalog', 'information_schema', 'pgferry') and n.nspname not like 'pg\\_%'
   and not exists (select 1 from pg_catalog.pg_depend d
                    where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and d.objid = p.oid and d.deptype = 'e')`;

/** The key FUNCTION_DEFS_SQL gives the function of a dump entry. */
export function functionKey(schema: string, tag: string): string {
  return `${schema}.${tag}`;
}
