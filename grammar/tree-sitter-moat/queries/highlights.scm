; Highlighting for moat policies (grammar.js).

(comment) @comment
(string) @string
(number) @number
(address) @number
(method) @constant

[
  "policy" "include" "site" "cluster" "zone" "service" "cells"
  "cidr" "namespace" "namespaces" "pods" "hosts" "port" "dns"
  "serviceaccount" "paths" "methods" "in" "each" "exempt"
] @keyword

(unmanaged) @keyword
(resident) @keyword

["allow" "forbid"] @keyword.control

(protocol) @type.builtin
(port_item "any" @constant.builtin)

["->"] @operator
[":" "," "." "@" "=" "/" ".." "-" "*"] @punctuation.delimiter
["{" "}" "[" "]"] @punctuation.bracket

; declarations
(policy name: (identifier) @namespace)
(site name: (identifier) @namespace)
(site kind: (identifier) @type.builtin)
(site_property key: (identifier) @property)
(cluster name: (identifier) @namespace)
(cluster site: (identifier) @namespace)
(zone name: (identifier) @type)
(zone kind: (identifier) @type.builtin)
(zone site: (identifier) @namespace)
(zone_cluster name: (identifier) @namespace)
(service name: (identifier) @function)
(port name: (identifier) @constant)
(serviceaccount name: (_) @variable)
(cells name: (identifier) @type)

; uses
(endpoint (identifier) @variable)
(cell_wildcard (identifier) @type)
(port_item (identifier) @constant)
(label key: (label_key) @property)
(label value: (label_value) @string.special)
(pod_match key: (label_key) @property)
(pod_match value: (label_value) @string.special)
(pod_match operator: _ @operator)
