import type { RegionNode } from '@/api/types'

/** The tree without retired nodes (unless asked), and the sum of the known populations below each node. */
export function visibleTree(root: RegionNode, showRetired: boolean): RegionNode {
  return {
    ...root,
    children: root.children.filter((c) => showRetired || !c.retired).map((c) => visibleTree(c, showRetired)),
  }
}

export function findNode(root: RegionNode | null, id: number | null): RegionNode | null {
  if (!root || id === null) return null
  if (root.id === id) return root
  for (const child of root.children) {
    const found = findNode(child, id)
    if (found) return found
  }
  return null
}

/** Communities whose population for the year is missing (the statistics need it). */
export function missingPopulations(root: RegionNode): RegionNode[] {
  const out: RegionNode[] = []
  const walk = (node: RegionNode) => {
    if (!node.retired && node.level === 'community' && node.population === null) out.push(node)
    node.children.forEach(walk)
  }
  walk(root)
  return out
}

/** Sum of the populations of the live communities below (null when none is known). */
export function communityTotal(node: RegionNode): number | null {
  if (node.level === 'community') return node.retired ? null : node.population
  let total: number | null = null
  for (const child of node.children) {
    const sub = communityTotal(child)
    if (sub !== null) total = (total ?? 0) + sub
  }
  return total
}

export function formatPopulation(value: number | null | undefined): string {
  if (value === null || value === undefined) return '未设置'
  return value.toLocaleString('zh-CN')
}
