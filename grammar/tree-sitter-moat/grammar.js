/**
 * @file tree-sitter grammar of the moat policy language, for highlighting
 * and editor structure. The normative grammar is ../moat.ebnf (what
 * src/syntax/parse.rs implements); this one follows it production by
 * production, plus the deployment syntax of issue 12 (clusters, shared
 * namespaces, unmanaged zones, namespaces by label, address ranges, DNS
 * names) and the mesh syntax of issue 15 (`serviceaccount`, `paths`,
 * `methods`). It accepts a superset of what moat accepts: the
 * checker, not the highlighter, says what is wrong.
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

const commaSep1 = (rule) => seq(rule, repeat(seq(',', rule)));

module.exports = grammar({
  name: 'moat',

  extras: ($) => [/\s/, $.comment],

  word: ($) => $.identifier,

  rules: {
    source_file: ($) => repeat($._item),

    _item: ($) => choice($.policy, $.include, $.site, $.cluster, $.zone, $.rule, $.cells),

    // policy = "policy" ident [ string ]
    policy: ($) => seq('policy', field('name', $.identifier), optional(field('title', $.string))),

    // include = "include" string
    include: ($) => seq('include', field('path', $.string)),

    // site = "site" ident ":" ident [ "{" { ident string } "}" ]
    site: ($) =>
      seq(
        'site',
        field('name', $.identifier),
        ':',
        field('kind', $.identifier),
        optional(seq('{', repeat($.site_property), '}')),
      ),
    site_property: ($) => seq(field('key', $.identifier), field('value', $.string)),

    // cluster = "cluster" ident "@" ident   (issue 12)
    cluster: ($) => seq('cluster', field('name', $.identifier), '@', field('site', $.identifier)),

    // zone = "zone" ident ":" ident [ "@" ident ] "{" { zone_stmt } "}"
    zone: ($) =>
      seq(
        'zone',
        field('name', $.identifier),
        ':',
        field('kind', $.identifier),
        optional(seq('@', field('site', $.identifier))),
        '{',
        repeat($._zone_stmt),
        '}',
      ),

    _zone_stmt: ($) =>
      choice(
        $.cidr,
        $.namespace,
        $.namespaces,
        $.zone_cluster,
        $.unmanaged,
        $.dns,
        $.service,
      ),

    cidr: ($) => seq('cidr', commaSep1($.address)),
    // `namespace regproc pods stage=dmz` (issue 12) or a list of namespace names
    namespace: ($) => seq('namespace', commaSep1($._ns_name), optional(seq('pods', commaSep1($.pod_match)))),
    // pod_match = label_key ( "=" | "!=" ) ( label_value | string ); `!=` is NotIn
    pod_match: ($) =>
      seq(
        field('key', $.label_key),
        field('operator', choice(token.immediate('='), token.immediate('!='))),
        optional(field('value', choice(alias($._label_value, $.label_value), $.string))),
      ),
    // namespaces chosen by their labels (issue 12)
    namespaces: ($) => seq('namespaces', commaSep1($.label)),
    zone_cluster: ($) => seq('cluster', field('name', $.identifier)),
    unmanaged: (_) => 'unmanaged',
    dns: ($) => seq('dns', commaSep1($.string)),

    // service = "service" ident "{" { service_stmt } "}"
    service: ($) => seq('service', field('name', $.identifier), '{', repeat($._service_stmt), '}'),

    _service_stmt: ($) =>
      choice($.hosts, $.pods, alias($.service_namespace, $.namespace), $.port, $.resident, $.serviceaccount),

    // a service's namespaces (no `pods` clause: `pods` is the service's own statement)
    service_namespace: ($) => seq('namespace', commaSep1($._ns_name)),

    hosts: ($) => seq('hosts', commaSep1($.address)),
    pods: ($) => seq('pods', commaSep1($.label)),
    port: ($) => seq('port', field('name', $.identifier), field('spec', $.port_item)),
    resident: (_) => 'resident',
    // "serviceaccount" ns_name: the pods' service account (issue 15, mesh)
    serviceaccount: ($) => seq('serviceaccount', field('name', $._ns_name)),

    // rule = ("allow" | "forbid") endpoints "->" endpoints [":" ports] [string] ["exempt" string]
    rule: ($) =>
      seq(
        field('kind', choice('allow', 'forbid')),
        field('from', $.endpoints),
        '->',
        field('to', $.endpoints),
        optional(seq(':', field('ports', $.ports))),
        repeat(choice($.paths, $.methods)),
        optional(field('reason', $.string)),
        optional(seq('exempt', field('exempt', $.string))),
      ),
    endpoints: ($) => commaSep1($.endpoint),
    // endpoint = segment { "." segment }, segment = ident [ "*" ] ("*" on the first only)
    endpoint: ($) =>
      seq(
        choice($.identifier, $.cell_wildcard),
        repeat(seq(token.immediate('.'), alias($._immediate_identifier, $.identifier))),
      ),
    cell_wildcard: ($) => seq($.identifier, token.immediate('*')),
    _immediate_identifier: (_) => token.immediate(/[a-z][a-z0-9_-]*/),
    ports: ($) => commaSep1($.port_item),
    paths: ($) => seq('paths', commaSep1($.string)),
    methods: ($) => seq('methods', commaSep1($.method)),
    method: (_) => /[A-Z]+/,

    // port_item = "any" | proto [ "/" digits [ "-" digits ] ] | ident
    port_item: ($) =>
      choice(
        'any',
        seq(
          $.protocol,
          optional(
            seq(
              token.immediate('/'),
              alias($._immediate_number, $.number),
              optional(seq(token.immediate('-'), alias($._immediate_number, $.number))),
            ),
          ),
        ),
        $.identifier,
      ),
    protocol: (_) => choice('tcp', 'udp', 'sctp', 'icmp', 'icmpv6'),

    // cells = "cells" ident "[" digits ".." digits "]" "in" addr "each" "/" digits "{" { zone | rule } "}"
    cells: ($) =>
      seq(
        'cells',
        field('name', $.identifier),
        '[',
        field('low', $.number),
        '..',
        field('high', $.number),
        ']',
        'in',
        field('block', $.address),
        'each',
        '/',
        field('each', $.number),
        '{',
        repeat(choice($.zone, $.rule)),
        '}',
      ),

    _ns_name: ($) => choice($.identifier, $.string),

    // label = label_key "=" ( label_value | string )
    label: ($) =>
      seq(
        field('key', $.label_key),
        token.immediate('='),
        optional(field('value', choice(alias($._label_value, $.label_value), $.string))),
      ),
    label_key: (_) => /[A-Za-z0-9._\/-]+/,
    _label_value: (_) => token.immediate(/[A-Za-z0-9._-]+/),

    // addr = [ "+" ] addr_chars [ "-" addr_chars ]: `A-B` is a range (issue 12), blanks allowed
    // around `-`; checked by moat (E015, E016, E026, E027)
    address: ($) => seq($._addr, optional(seq('-', $._addr))),
    _addr: (_) => /\+?[0-9a-fA-F.:\/]+/,

    identifier: (_) => /[a-z][a-z0-9_-]*/,
    number: (_) => /[0-9]+/,
    _immediate_number: (_) => token.immediate(/[0-9]+/),
    // strings may span lines; `\"` and `\\` are the escapes; `{cell}` is interpolated in cells
    string: (_) => token(seq('"', repeat(choice(/[^"\\]+/, /\\./)), '"')),
    comment: (_) => token(seq('#', /.*/)),
  },
});
