import t from 'tap'
import { dumps, loads } from '../index.js'
t.test('smoke', async (t) => {
  t.same(loads(dumps([1, 'a'])), [1, 'a'])
})
