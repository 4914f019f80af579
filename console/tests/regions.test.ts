import { describe, expect, it } from 'vitest'
import type { RegionNode } from '@/api/types'
import { communityTotal, findNode, formatPopulation, missingPopulations, visibleTree } from '@/lib/regions'

const node = (id: number, level: string, population: number | null, children: RegionNode[] = [], retired = false): RegionNode =>
  ({ id, code: String(id), name: `R${id}`, level, parent_id: null, retired, population, children })

const tree = node(1, 'district', 500000, [
  node(2, 'street', 30000, [node(4, 'community', 8000), node(5, 'community', null), node(6, 'community', 999, [], true)]),
  node(3, 'street', null, [node(7, 'community', 12000)], true),
])

describe('region tree helpers', () => {
  it('hides retired nodes unless asked', () => {
    expect(visibleTree(tree, false).children.map((c) => c.id)).toEqual([2])
    expect(visibleTree(tree, false).children[0].children.map((c) => c.id)).toEqual([4, 5])
    expect(visibleTree(tree, true).children.map((c) => c.id)).toEqual([2, 3])
  })

  it('finds nodes and missing community populations', () => {
    expect(findNode(tree, 7)?.name).toBe('R7')
    expect(findNode(tree, 99)).toBeNull()
    expect(missingPopulations(tree).map((n) => n.id)).toEqual([5])
  })

  it('sums live community populations', () => {
    expect(communityTotal(tree.children[0])).toBe(8000)
    expect(communityTotal(node(9, 'street', null, [node(10, 'community', null)]))).toBeNull()
    expect(formatPopulation(1234567)).toBe('1,234,567')
    expect(formatPopulation(null)).toBe('未设置')
  })
})
